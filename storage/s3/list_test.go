package s3

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
)

// listAnswer is a ListObjectsV2 answer written at random the ways a
// server may: fields in any order, with or without the declaration, a
// namespace, indentation, elements the page does not read (nested ones
// among them), keys URL-encoded or escaped for XML (with entities of either
// kind, or in CDATA), and empty fields.
func listAnswer(rng *rand.Rand) []byte {
	const alphabet = "ab/ -_.%+&<>\"'é日\x7f~"
	rs := []rune(alphabet)
	word := func(n int) string {
		var b strings.Builder
		for range n {
			b.WriteRune(rs[rng.IntN(len(rs))])
		}
		return b.String()
	}
	escape := func(s string) string {
		var b bytes.Buffer
		for _, r := range s {
			switch {
			case r == '"' && rng.IntN(2) == 0:
				b.WriteString("&#34;")
			case r == '\'' && rng.IntN(2) == 0:
				b.WriteString("&#x27;")
			default:
				_ = xml.EscapeText(&b, []byte(string(r)))
			}
		}
		return b.String()
	}
	urlEncoded := rng.IntN(3) > 0
	sp := func() string { return []string{"", "\n", "\n  ", " "}[rng.IntN(4)] }
	var parts []string
	for range rng.IntN(30) {
		key := word(1 + rng.IntN(12))
		var k string
		switch {
		case urlEncoded:
			k = url.QueryEscape(key)
		case rng.IntN(5) == 0 && !strings.Contains(key, "]]>"):
			k = "<![CDATA[" + key + "]]>"
		default:
			k = escape(key)
		}
		fields := []string{
			"<Key>" + k + "</Key>",
			"<ETag>" + escape(fmt.Sprintf("%q", word(rng.IntN(6)))) + "</ETag>",
			fmt.Sprintf("<Size>%d</Size>", rng.Int64N(1<<40)),
			"<LastModified>" + time.Unix(rng.Int64N(2e9), rng.Int64N(1e9)).UTC().Format("2006-01-02T15:04:05.000Z") + "</LastModified>",
			"<StorageClass>STANDARD</StorageClass>",
		}
		if rng.IntN(3) == 0 {
			fields = append(fields, "<Owner><ID>"+escape(word(3))+"</ID><DisplayName/></Owner>")
		}
		if rng.IntN(4) == 0 {
			fields = append(fields, "<ChecksumAlgorithm>CRC32</ChecksumAlgorithm><ETagExtra></ETagExtra>")
		}
		rng.Shuffle(len(fields), func(i, j int) { fields[i], fields[j] = fields[j], fields[i] })
		parts = append(parts, "<Contents>"+sp()+strings.Join(fields, sp())+sp()+"</Contents>")
	}
	head := []string{
		"<Name>models</Name>", "<Prefix>" + escape(word(2)) + "</Prefix>", "<MaxKeys>1000</MaxKeys>",
		fmt.Sprintf("<KeyCount>%d</KeyCount>", len(parts)),
		fmt.Sprintf("<IsTruncated>%v</IsTruncated>", rng.IntN(2) == 0),
		"<StartAfter>" + escape(word(3)) + "</StartAfter>",
	}
	if urlEncoded {
		head = append(head, "<EncodingType>url</EncodingType>")
	}
	if rng.IntN(3) == 0 {
		head = append(head, "<CommonPrefixes><Prefix>x/</Prefix></CommonPrefixes>", "<NextContinuationToken>"+escape(word(5))+"</NextContinuationToken>")
	}
	// The head's fields before, after or among the objects.
	all := append(parts, head...)
	if rng.IntN(2) == 0 {
		rng.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	}
	doc := "<ListBucketResult" + []string{"", ` xmlns="http://s3.amazonaws.com/doc/2006-03-01/"`}[rng.IntN(2)] + ">" + sp() + strings.Join(all, sp()) + sp() + "</ListBucketResult>"
	if rng.IntN(2) == 0 {
		doc = `<?xml version="1.0" encoding="UTF-8"?>` + sp() + doc
	}
	return []byte(doc + sp())
}

// minioReading is what minio-go makes of a listing answer: encoding/xml
// into its own result type, keys URL-decoded when the server says so.
func minioReading(t *testing.T, answer []byte) ([]minio.ObjectInfo, bool) {
	t.Helper()
	var res minio.ListBucketV2Result
	if err := xml.Unmarshal(answer, &res); err != nil {
		t.Fatalf("encoding/xml: %v\n%s", err, answer)
	}
	for i, o := range res.Contents {
		if res.EncodingType == "url" {
			k, err := url.QueryUnescape(o.Key)
			if err != nil {
				t.Fatal(err)
			}
			res.Contents[i].Key = k
		}
	}
	return res.Contents, res.IsTruncated
}

// TestParseList_AsMinioReadsIt: over generated answers, parseList and
// decode give every object's key, ETag, size and time, and IsTruncated,
// exactly as minio-go's reading of the same bytes.
func TestParseList_AsMinioReadsIt(t *testing.T) {
	t.Parallel()
	objects := 0
	for seed := range uint64(2000) {
		rng := rand.New(rand.NewPCG(seed, 7))
		answer := listAnswer(rng)
		want, wantTrunc := minioReading(t, answer)
		res, err := parseList(bytes.NewReader(answer))
		if err != nil {
			t.Fatalf("seed %d: parseList: %v\n%s", seed, err, answer)
		}
		got, gotTrunc, err := res.decode()
		if err != nil {
			t.Fatalf("seed %d: decode: %v\n%s", seed, err, answer)
		}
		if gotTrunc != wantTrunc || len(got) != len(want) {
			t.Fatalf("seed %d: %d objects, truncated %v; minio-go reads %d, %v\n%s", seed, len(got), gotTrunc, len(want), wantTrunc, answer)
		}
		for i := range got {
			g, w := got[i], want[i]
			if g.Key != w.Key || g.ETag != w.ETag || g.Size != w.Size || !g.LastModified.Equal(w.LastModified) {
				t.Fatalf("seed %d: object %d = %q %q %d %v; minio-go reads %q %q %d %v\n%s", seed, i,
					g.Key, g.ETag, g.Size, g.LastModified, w.Key, w.ETag, w.Size, w.LastModified, answer)
			}
		}
		objects += len(got)
	}
	if objects == 0 {
		t.Fatal("no objects generated")
	}
}

// TestParseList_Refuses: what is no well-formed listing is an error, never
// a shorter page.
func TestParseList_Refuses(t *testing.T) {
	t.Parallel()
	const obj = "<Contents><Key>a</Key><Size>1</Size></Contents>"
	for _, tc := range []struct{ name, answer string }{
		{"empty", ""},
		{"another document", "<Error><Code>AccessDenied</Code></Error>"},
		{"cut short", "<ListBucketResult>" + obj + "<Contents><Key>b</Key>"},
		{"cut inside a tag", "<ListBucketResult>" + obj + "<Conte"},
		{"no root end", "<ListBucketResult>" + obj},
		{"mismatched end", "<ListBucketResult><Contents><Key>a</Size></Contents></ListBucketResult>"},
		{"end of nothing", "</ListBucketResult>"},
		{"two roots", "<ListBucketResult></ListBucketResult><ListBucketResult></ListBucketResult>"},
		{"text outside", "<ListBucketResult></ListBucketResult>trailing"},
		{"bad entity", "<ListBucketResult><Contents><Key>a&bogus</Key><Size>1</Size></Contents></ListBucketResult>"},
		{"bad size", "<ListBucketResult><Contents><Key>a</Key><Size>-1</Size></Contents></ListBucketResult>"},
		{"no size", "<ListBucketResult><Contents><Key>a</Key></Contents></ListBucketResult>"},
		{"bad time", "<ListBucketResult><Contents><Key>a</Key><Size>1</Size><LastModified>yesterday</LastModified></Contents></ListBucketResult>"},
		{"bad truncation", "<ListBucketResult><IsTruncated>maybe</IsTruncated></ListBucketResult>"},
		{"bad URL encoding", "<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>a%zz</Key><Size>1</Size></Contents></ListBucketResult>"},
		{"doctype", `<!DOCTYPE x [<!ENTITY e "x">]><ListBucketResult></ListBucketResult>`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res, err := parseList(strings.NewReader(tc.answer))
			if err == nil {
				_, _, err = res.decode()
			}
			if err == nil {
				t.Fatalf("%q was read as a listing of %d objects", tc.answer, len(res.objects))
			}
		})
	}
}

// FuzzParseList: any answer is read, or refused, without a panic or a
// hang.
func FuzzParseList(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(listAnswer(rand.New(rand.NewPCG(seed, 7))))
	}
	f.Add([]byte("<ListBucketResult><Contents><Key><![CDATA[a]]></Key><Size>1</Size></Contents></ListBucketResult>"))
	f.Fuzz(func(t *testing.T, answer []byte) {
		if res, err := parseList(bytes.NewReader(answer)); err == nil {
			_, _, _ = res.decode()
		}
	})
}

// BenchmarkParseList reads an answer of 1,000 objects with parseList and,
// for comparison, as minio-go does (encoding/xml into its result type).
func BenchmarkParseList(b *testing.B) {
	var buf bytes.Buffer
	buf.WriteString(`<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>models</Name><Prefix></Prefix><KeyCount>1000</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>`)
	for i := range 1000 {
		fmt.Fprintf(&buf, "<Contents><Key>org%d%%2Fmodel%d%%2Fmodel.safetensors</Key><LastModified>2026-12-07T10:00:00.000Z</LastModified><ETag>&quot;%032x&quot;</ETag><Size>%d</Size><StorageClass>STANDARD</StorageClass></Contents>", i/100, i%100, i, 1024+i)
	}
	buf.WriteString("<EncodingType>url</EncodingType></ListBucketResult>")
	answer := buf.Bytes()
	b.Run("gosax", func(b *testing.B) {
		b.SetBytes(int64(len(answer)))
		for b.Loop() {
			res, err := parseList(bytes.NewReader(answer))
			if err != nil {
				b.Fatal(err)
			}
			if objs, _, err := res.decode(); err != nil || len(objs) != 1000 {
				b.Fatal(err, len(objs))
			}
		}
	})
	b.Run("encoding-xml", func(b *testing.B) {
		b.SetBytes(int64(len(answer)))
		for b.Loop() {
			var res minio.ListBucketV2Result
			if err := xml.Unmarshal(answer, &res); err != nil || len(res.Contents) != 1000 {
				b.Fatal(err)
			}
		}
	})
}
