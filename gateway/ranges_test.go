package gateway

import (
	"errors"
	"testing"

	"github.com/weightgate/weightgate/gateway/httpsem"
)

func TestParseRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		header string
		size   int64
		want   httpsem.Range
		wantOK bool
		// wantCR is the Content-Range of a satisfiable range.
		wantCR string
		// wantCode is the *Error code of a refused range ("" = no error).
		wantCode string
	}{
		{name: "Absent", header: "", size: 10},
		{name: "OtherUnit", header: "items=0-1", size: 10},
		{name: "OtherUnitMalformed", header: "items=zzz", size: 10},
		{name: "FirstTen", header: "bytes=0-9", size: 100, want: httpsem.Range{Start: 0, Length: 10}, wantOK: true, wantCR: "bytes 0-9/100"},
		{name: "SingleByte", header: "bytes=3-3", size: 10, want: httpsem.Range{Start: 3, Length: 1}, wantOK: true, wantCR: "bytes 3-3/10"},
		{name: "LastByte", header: "bytes=9-9", size: 10, want: httpsem.Range{Start: 9, Length: 1}, wantOK: true, wantCR: "bytes 9-9/10"},
		{name: "Whole", header: "bytes=0-", size: 10, want: httpsem.Range{Start: 0, Length: 10}, wantOK: true, wantCR: "bytes 0-9/10"},
		{name: "OpenEnded", header: "bytes=5-", size: 10, want: httpsem.Range{Start: 5, Length: 5}, wantOK: true, wantCR: "bytes 5-9/10"},
		{name: "Suffix", header: "bytes=-3", size: 10, want: httpsem.Range{Start: 7, Length: 3}, wantOK: true, wantCR: "bytes 7-9/10"},
		{name: "SuffixLargerThanObject", header: "bytes=-20", size: 10, want: httpsem.Range{Start: 0, Length: 10}, wantOK: true, wantCR: "bytes 0-9/10"},
		{name: "SuffixZero", header: "bytes=-0", size: 10, wantCode: CodeRangeNotSatisfiable},
		{name: "EndBeyondSizeClamps", header: "bytes=2-999", size: 10, want: httpsem.Range{Start: 2, Length: 8}, wantOK: true, wantCR: "bytes 2-9/10"},
		{name: "EndAtSize", header: "bytes=0-10", size: 10, want: httpsem.Range{Start: 0, Length: 10}, wantOK: true, wantCR: "bytes 0-9/10"},
		{name: "StartAtSize", header: "bytes=10-", size: 10, wantCode: CodeRangeNotSatisfiable},
		{name: "StartAtSizeWithEnd", header: "bytes=10-20", size: 10, wantCode: CodeRangeNotSatisfiable},
		{name: "StartBeyondSize", header: "bytes=50-60", size: 10, wantCode: CodeRangeNotSatisfiable},
		{name: "EndBeforeStart", header: "bytes=9-5", size: 10, wantCode: CodeInvalidRange},
		{name: "MultipleRanges", header: "bytes=0-1,3-4", size: 10, wantCode: CodeMultipleRanges},
		{name: "MultipleRangesSpaced", header: "bytes=0-1, 3-4", size: 10, wantCode: CodeMultipleRanges},
		{name: "UnitCaseInsensitive", header: "Bytes=0-1", size: 10, want: httpsem.Range{Start: 0, Length: 2}, wantOK: true, wantCR: "bytes 0-1/10"},
		// Whitespace around the unit, the spec and each position is trimmed.
		{name: "SpaceAfterEquals", header: "bytes= 1-2", size: 10, want: httpsem.Range{Start: 1, Length: 2}, wantOK: true, wantCR: "bytes 1-2/10"},
		{name: "SpacesEverywhere", header: " bytes = 1 - 2 ", size: 10, want: httpsem.Range{Start: 1, Length: 2}, wantOK: true, wantCR: "bytes 1-2/10"},
		{name: "NoEquals", header: "bytes", size: 10, wantCode: CodeInvalidRange},
		{name: "NoDash", header: "bytes=abc", size: 10, wantCode: CodeInvalidRange},
		{name: "DashOnly", header: "bytes=-", size: 10, wantCode: CodeInvalidRange},
		{name: "EmptySpec", header: "bytes=", size: 10, wantCode: CodeInvalidRange},
		{name: "PlusSign", header: "bytes=+1-2", size: 10, wantCode: CodeInvalidRange},
		{name: "PlusSignEnd", header: "bytes=1-+2", size: 10, wantCode: CodeInvalidRange},
		{name: "NegativeSuffix", header: "bytes=--1", size: 10, wantCode: CodeInvalidRange},
		{name: "Letters", header: "bytes=a-b", size: 10, wantCode: CodeInvalidRange},
		{name: "ThreeParts", header: "bytes=1-2-3", size: 10, wantCode: CodeInvalidRange},
		{name: "Hex", header: "bytes=0x1-2", size: 10, wantCode: CodeInvalidRange},
		{name: "EmptyObjectFromStart", header: "bytes=0-", size: 0, wantCode: CodeRangeNotSatisfiable},
		{name: "EmptyObjectFirstByte", header: "bytes=0-0", size: 0, wantCode: CodeRangeNotSatisfiable},
		{name: "EmptyObjectSuffix", header: "bytes=-5", size: 0, wantCode: CodeRangeNotSatisfiable},
		{name: "OverflowEnd", header: "bytes=0-99999999999999999999", size: 10, wantCode: CodeInvalidRange},
		{name: "OverflowStart", header: "bytes=99999999999999999999-", size: 10, wantCode: CodeInvalidRange},
		{name: "OverflowSuffix", header: "bytes=-99999999999999999999", size: 10, wantCode: CodeInvalidRange},
		{name: "MaxInt64Start", header: "bytes=9223372036854775807-", size: 10, wantCode: CodeRangeNotSatisfiable},
		{name: "MaxInt64End", header: "bytes=0-9223372036854775807", size: 10, want: httpsem.Range{Start: 0, Length: 10}, wantOK: true, wantCR: "bytes 0-9/10"},
		{name: "LargeObject", header: "bytes=5000000000-", size: 5000000001, want: httpsem.Range{Start: 5000000000, Length: 1}, wantOK: true, wantCR: "bytes 5000000000-5000000000/5000000001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := parseRange(tt.header, tt.size)
			if tt.wantCode != "" {
				var e *Error
				if !errors.As(err, &e) {
					t.Fatalf("parseRange(%q, %d) error = %v, want *Error with code %q", tt.header, tt.size, err, tt.wantCode)
				}
				if got, want := e.Status, 416; got != want {
					t.Errorf("Status = %d, want %d", got, want)
				}
				if got, want := e.Code, tt.wantCode; got != want {
					t.Errorf("Code = %q, want %q", got, want)
				}
				if ok {
					t.Errorf("ok = true with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRange(%q, %d): %v", tt.header, tt.size, err)
			}
			if got, want := ok, tt.wantOK; got != want {
				t.Fatalf("ok = %v, want %v", got, want)
			}
			if got, want := got, tt.want; got != want {
				t.Errorf("range = %+v, want %+v", got, want)
			}
			if !ok {
				return
			}
			if got, want := got.ContentRange(tt.size), tt.wantCR; got != want {
				t.Errorf("contentRange = %q, want %q", got, want)
			}
			if got.Start < 0 || got.Length < 1 || got.Start+got.Length > tt.size {
				t.Errorf("range %+v is outside an object of %d bytes", got, tt.size)
			}
		})
	}
}
