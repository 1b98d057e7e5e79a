package main

import (
	"testing"
	"time"
)

// TestReadConfigFile_BucketCreated: the example's s3.bucket_created, a bare
// date, reaches the S3 API as that day (ListBuckets' CreationDate).
func TestReadConfigFile_BucketCreated(t *testing.T) {
	cfg, err := ReadConfigFile("../../config.example.yaml")
	if err != nil {
		t.Fatalf("ReadConfigFile: %v", err)
	}
	if got, want := cfg.S3.BucketCreated, time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("s3.bucket_created = %v, want %v", got, want)
	}
}
