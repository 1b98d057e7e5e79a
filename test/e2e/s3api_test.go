package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/weightgate/weightgate/audit"
	"github.com/weightgate/weightgate/gateway"
	"github.com/weightgate/weightgate/identity"
	"github.com/weightgate/weightgate/internal/gatewaytest"
	"github.com/weightgate/weightgate/storage"
)

// s3Client is minio-go against the gateway's S3 API, with credentials from
// its STS endpoint for a token of claims (anonymous when claims is nil).
func s3Client(t *testing.T, h *gatewaytest.Harness, claims *identity.TokenClaims) *minio.Client {
	t.Helper()
	u, err := url.Parse(h.S3URL)
	if err != nil {
		t.Fatal(err)
	}
	creds := credentials.NewStatic("", "", "", credentials.SignatureAnonymous)
	if claims != nil {
		tok := h.Token(t, *claims)
		creds, err = credentials.NewSTSWebIdentity(h.S3URL, func() (*credentials.WebIdentityToken, error) {
			return &credentials.WebIdentityToken{Token: tok, Expiry: 900}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	c, err := minio.New(u.Host, &minio.Options{Creds: creds, Region: "us-east-1", MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// get downloads a key whole (or a range) and returns its bytes.
func s3Get(ctx context.Context, c *minio.Client, key string, opts minio.GetObjectOptions) ([]byte, error) {
	obj, err := c.GetObject(ctx, "models", key, opts)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	return io.ReadAll(obj)
}

// TestS3API drives the S3-compatible API with minio-go, STS credentials
// included, on both backends: downloads byte-exact, ranges, conditions,
// listings, refusals with the policy's reason, and the audit trail.
func TestS3API(t *testing.T) {
	gatewaytest.Backends(t, func(t *testing.T, store storage.ObjectStore) {
		h := gatewaytest.Start(t, store, gatewaytest.Options{S3: &gateway.S3Options{Anonymous: true}})
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		us := s3Client(t, h, &identity.TokenClaims{Subject: "s3-user", Country: "US", Nationality: []string{"US"}, ParentHQ: "US"})
		// A Tier 2 requester: refused, and told why (a requester the model
		// is hidden from gets NoSuchKey: attack_visible_test.go).
		cn := s3Client(t, h, &identity.TokenClaims{Subject: "s3-in", Country: "IN"})
		anon := s3Client(t, h, nil)
		const openKey, closedKey = "open-lab/tiny-open/model.safetensors", "frontier-lab/frontier-x/" + gatewaytest.Shard1

		for _, tt := range []struct {
			name string
			c    *minio.Client
			key  string
			code string // "" = byte-exact download
		}{
			{"open model, signed", us, openKey, ""},
			{"open model, anonymous", anon, openKey, ""},
			{"permitted closed shard", us, closedKey, ""},
			{"denied closed shard", cn, closedKey, "AccessDenied"},
			{"closed shard, anonymous", anon, closedKey, "AccessDenied"},
			{"missing file", us, "open-lab/tiny-open/nope.bin", "NoSuchKey"},
			{"key without a file", us, "open-lab/tiny-open", "NoSuchKey"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				got, err := s3Get(ctx, tt.c, tt.key, minio.GetObjectOptions{})
				if tt.code == "" {
					if err != nil || !bytes.Equal(got, gatewaytest.StoreFile(t, resolvePath(tt.key))) {
						t.Fatalf("%s: %d bytes, err %v; want the file byte-exact", tt.key, len(got), err)
					}
					return
				}
				if got := minio.ToErrorResponse(err).Code; got != tt.code {
					t.Fatalf("%s: error %v (code %q), want %s", tt.key, err, got, tt.code)
				}
			})
		}

		t.Run("denial carries the policy's reason", func(t *testing.T) {
			_, err := s3Get(ctx, cn, closedKey, minio.GetObjectOptions{})
			msg := minio.ToErrorResponse(err).Message
			if !strings.Contains(msg, "license_required") || !strings.Contains(msg, "IN") || !strings.Contains(msg, "decision ") {
				t.Errorf("message %q, want the reason, its code and the decision id", msg)
			}
		})

		t.Run("range, stat and conditions", func(t *testing.T) {
			whole := gatewaytest.StoreFile(t, resolvePath(closedKey))
			var opts minio.GetObjectOptions
			if err := opts.SetRange(10, 99); err != nil {
				t.Fatal(err)
			}
			part, err := s3Get(ctx, us, closedKey, opts)
			if err != nil || !bytes.Equal(part, whole[10:100]) {
				t.Fatalf("range 10-99: %d bytes, err %v", len(part), err)
			}
			st, err := us.StatObject(ctx, "models", closedKey, minio.StatObjectOptions{})
			if err != nil || st.Size != int64(len(whole)) || st.ETag == "" {
				t.Fatalf("stat: %+v, %v", st, err)
			}
			var match minio.GetObjectOptions
			if err := match.SetMatchETag(st.ETag); err != nil {
				t.Fatal(err)
			}
			if got, err := s3Get(ctx, us, closedKey, match); err != nil || !bytes.Equal(got, whole) {
				t.Errorf("If-Match the current ETag: %d bytes, %v", len(got), err)
			}
			var stale minio.GetObjectOptions
			if err := stale.SetMatchETag("0123456789abcdef0123456789abcdef"); err != nil {
				t.Fatal(err)
			}
			if _, err := s3Get(ctx, us, closedKey, stale); minio.ToErrorResponse(err).Code != "PreconditionFailed" {
				t.Errorf("If-Match a stale ETag: %v, want PreconditionFailed", err)
			}
			if _, err := cn.StatObject(ctx, "models", closedKey, minio.StatObjectOptions{}); err == nil {
				t.Errorf("stat of a denied shard succeeded")
			}
		})

		t.Run("listings", func(t *testing.T) {
			list := func(c *minio.Client, o minio.ListObjectsOptions) []string {
				var keys []string
				for obj := range c.ListObjects(ctx, "models", o) {
					if obj.Err != nil {
						t.Fatalf("list %+v: %v", o, obj.Err)
					}
					keys = append(keys, obj.Key)
				}
				return keys
			}
			all := list(us, minio.ListObjectsOptions{Recursive: true})
			if !slices.Contains(all, closedKey) || !slices.Contains(all, openKey) || !slices.IsSorted(all) {
				t.Errorf("recursive listing for a signed requester: %q", all)
			}
			paged := list(us, minio.ListObjectsOptions{Recursive: true, MaxKeys: 3})
			if !slices.Equal(paged, all) {
				t.Errorf("listing in pages of 3 = %q, want %q", paged, all)
			}
			v1 := list(us, minio.ListObjectsOptions{Recursive: true, UseV1: true, MaxKeys: 4})
			if !slices.Equal(v1, all) {
				t.Errorf("V1 listing in pages of 4 = %q, want %q", v1, all)
			}
			top := list(us, minio.ListObjectsOptions{Prefix: "frontier-lab/"})
			if !slices.Contains(top, "frontier-lab/frontier-x/") || slices.Contains(top, closedKey) {
				t.Errorf("delimited listing of frontier-lab/: %q, want the model folders only", top)
			}
			for _, k := range list(anon, minio.ListObjectsOptions{Recursive: true}) {
				if !strings.HasPrefix(k, "open-lab/") {
					t.Errorf("anonymous listing shows %s, a model that is not open", k)
				}
			}
			buckets, err := us.ListBuckets(ctx)
			if err != nil || len(buckets) != 1 || buckets[0].Name != "models" {
				t.Errorf("buckets = %+v, %v", buckets, err)
			}
		})

		t.Run("presigned URL and If-None-Match", func(t *testing.T) {
			whole := gatewaytest.StoreFile(t, resolvePath(closedKey))
			for _, tt := range []struct {
				c    *minio.Client
				want int
			}{{us, http.StatusOK}, {cn, http.StatusForbidden}} {
				u, err := tt.c.PresignedGetObject(ctx, "models", closedKey, 5*time.Minute, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.Get(u.String()) // no credentials but the URL's
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != tt.want || (tt.want == http.StatusOK && !bytes.Equal(body, whole)) {
					t.Errorf("presigned GET: %d, %d bytes; want %d", resp.StatusCode, len(body), tt.want)
				}
				if tt.want == http.StatusOK {
					// The same URL, tampered with, is refused.
					bad := strings.Replace(u.String(), "frontier-x", "frontier-y", 1)
					if resp, err := http.Get(bad); err != nil || resp.StatusCode != http.StatusForbidden {
						t.Errorf("tampered presigned URL: %v %v, want 403", resp.StatusCode, err)
					} else {
						resp.Body.Close()
					}
					etag := resp.Header.Get("ETag")
					var none minio.GetObjectOptions
					if err := none.SetMatchETagExcept(strings.Trim(etag, `"`)); err != nil {
						t.Fatal(err)
					}
					if _, err := s3Get(ctx, us, closedKey, none); err == nil || !strings.Contains(err.Error(), "304") && minio.ToErrorResponse(err).StatusCode != http.StatusNotModified {
						t.Errorf("If-None-Match the current ETag: %v, want 304 Not Modified", err)
					}
				}
			}
		})

		t.Run("encoding-type=url", func(t *testing.T) {
			core := minio.Core{Client: us}
			res, err := core.ListObjectsV2("models", "open-lab/", "", "", "/", 1000)
			if err != nil || len(res.CommonPrefixes) == 0 {
				t.Fatalf("ListObjectsV2 delimited: %+v, %v", res, err)
			}
			// minio-go asks with encoding-type=url and decodes: a key with
			// characters that need escaping must come back as it is.
			for obj := range us.ListObjects(ctx, "models", minio.ListObjectsOptions{Prefix: "open-lab/tiny-open/", Recursive: true}) {
				if obj.Err != nil || strings.Contains(obj.Key, "%") {
					t.Errorf("listed %q, %v", obj.Key, obj.Err)
				}
			}
		})

		t.Run("writes refused", func(t *testing.T) {
			_, err := us.PutObject(ctx, "models", "open-lab/tiny-open/new.bin", strings.NewReader("x"), 1, minio.PutObjectOptions{})
			if code := minio.ToErrorResponse(err).Code; code != "AccessDenied" && code != "NotImplemented" {
				t.Errorf("PutObject: %v, want AccessDenied or NotImplemented", err)
			}
		})

		t.Run("forged credentials", func(t *testing.T) {
			u, _ := url.Parse(h.S3URL)
			c, err := minio.New(u.Host, &minio.Options{Creds: credentials.NewStaticV4("WGAAAAAAAAAAAAAAAAAA", "secret", "token"), Region: "us-east-1", MaxRetries: 1})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s3Get(ctx, c, openKey, minio.GetObjectOptions{}); err == nil {
				t.Errorf("a forged credential downloaded a file")
			}
		})

		t.Run("STS refuses a bad token", func(t *testing.T) {
			resp, err := http.PostForm(h.S3URL+"/", url.Values{"Action": {"AssumeRoleWithWebIdentity"}, "Version": {"2011-06-15"}, "WebIdentityToken": {"not-a-jwt"}})
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode < 400 || !strings.Contains(string(body), "InvalidIdentityToken") || strings.Contains(string(body), "SecretAccessKey") {
				t.Errorf("STS with a bad token: %d %s", resp.StatusCode, body)
			}
		})

		t.Run("audit", func(t *testing.T) {
			var denied, allowed, transfers int
			for _, r := range h.Records(t) {
				switch {
				case r.API == "s3_get" && r.Type == audit.RecordDecision && r.Subject == "s3-in" && r.Code == "license_required":
					denied++
				case r.API == "s3_get" && r.Type == audit.RecordDecision && r.Subject == "s3-user" && r.Decision == "allow" && r.Object == gatewaytest.Shard1:
					allowed++
				case r.API == "s3_get" && r.Type == audit.RecordTransfer && r.Subject == "s3-user" && r.Outcome == "complete":
					transfers++
				}
			}
			if denied == 0 || allowed == 0 || transfers == 0 {
				t.Errorf("audit: %d CN denials, %d US allows of the shard, %d complete transfers; want each", denied, allowed, transfers)
			}
		})
	})
}

// resolvePath is the Hub download path of an S3 key ORG/NAME/FILE.
func resolvePath(key string) string {
	parts := strings.SplitN(key, "/", 3)
	return "/" + parts[0] + "/" + parts[1] + "/resolve/main/" + parts[2]
}
