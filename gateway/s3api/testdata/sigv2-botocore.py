# Regenerates sigv2-botocore.json, the SigV2 presigned URLs that botocore's
# default S3 presigner (HmacV1QueryAuth) makes, for TestVerifyV2Botocore:
#   python3 sigv2-botocore.py > sigv2-botocore.json
# The clock is fixed at 2026-07-01T12:00:00Z so the file is reproducible.
import json, time
import boto3, botocore, botocore.auth

NOW = 1782907200
botocore.auth.time.time = lambda: NOW

AKID, SECRET, TOKEN = "WGAAAAAAAAAAAAAAAAAA", "test/secret+key=not-a-real-one", "session-token/with+chars=="
c = boto3.client("s3", endpoint_url="http://gw.example", region_name="us-east-1",
                 aws_access_key_id=AKID, aws_secret_access_key=SECRET, aws_session_token=TOKEN)
cases = [
    ("get", "GET", "get_object", {"Key": "open-lab/tiny/model.safetensors"}, 3600),
    ("head", "HEAD", "head_object", {"Key": "open-lab/tiny/model.safetensors"}, 3600),
    ("awkward key", "GET", "get_object", {"Key": "org/m/dir with space/a+b~c(1)!é*'=&;@$,.bin"}, 60),
    ("response override", "GET", "get_object",
     {"Key": "org/m/w.bin", "ResponseContentDisposition": 'attachment; filename="w b.bin"',
      "ResponseContentType": "application/vnd.x+json"}, 600),
    ("seven days", "GET", "get_object", {"Key": "org/m/w.bin"}, 604800),
]
out = {"now": NOW, "access_key_id": AKID, "secret_access_key": SECRET, "session_token": TOKEN,
       "botocore": botocore.__version__, "cases": []}
for name, method, op, params, expires in cases:
    url = c.generate_presigned_url(op, Params={"Bucket": "models", **params}, ExpiresIn=expires)
    out["cases"].append({"name": name, "method": method, "url": url})
print(json.dumps(out, indent=1, ensure_ascii=False))
