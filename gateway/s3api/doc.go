// Package s3api holds the protocol primitives of weightgate's read-only
// S3-compatible API and of the STS endpoint that issues its credentials:
// AWS Signature Version 4 verification (and Version 2 presigned URLs),
// stateless temporary credentials, AssumeRoleWithWebIdentity, request
// routing, listings, conditional requests and S3's XML documents. It knows nothing of models, policy
// decisions, storage or audit; package gateway wires it to them. It must not
// import gateway.
//
// # How a client gets in
//
// A client trades an OpenID Connect ID token for S3 credentials at the STS
// endpoint (STSHandler, AssumeRoleWithWebIdentity, unsigned as at AWS), then
// signs S3 requests with them like any AWS SDK. The gateway then, per
// request:
//
//  1. Classify: path-style routing to one of seven read operations;
//     everything else is refused before any signature is read (writes are
//     AccessDenied, other reads NotImplemented).
//  2. Verify: SigV4, header or presigned form, or a SigV2 presigned URL
//     (sigv2.go), returning the Credential and so the policy.Subject the
//     credential was issued to.
//  3. Its own policy decision and audit record for that subject, then
//     httpsem.CheckConditions, then the answer (WriteListObjects, WriteError, ...).
//
// # Why session tokens are stateless
//
// The session token is the credential: base64url JSON of the access key
// id, the subject and the expiry, with an HMAC-SHA256 under the issuer key.
// The secret key is another HMAC of the same payload, so the gateway
// recomputes it from the token on every request and stores nothing. With a
// configured key, credentials survive restarts and work on every replica
// without shared storage; there is no table to grow, expire or lose. The
// price, accepted because lifetimes are short (at most STSOptions.MaxTTL,
// one hour by default, and never beyond the ID token's own exp):
//
//   - A credential cannot be revoked before it expires except by changing
//     the key, which revokes all of them.
//   - The subject, its screening result included, is a snapshot taken at
//     issue time. The gateway may re-screen on each request if the lists
//     change faster than credentials expire.
//   - The token is signed, not encrypted: whoever holds it can read the
//     subject's attributes. It travels in presigned URLs, so such URLs must
//     be treated as personal data as well as secrets.
//
// # What Verify checks
//
// The signature over the canonical request, recomputed exactly as AWS
// specifies for S3 (path re-encoded once, query sorted and re-encoded,
// signed headers trimmed, payload hash), compared in constant time; the
// credential scope (only the configured region and service); the date
// (15 minutes of skew; presigned URLs up to seven days and never past their
// credential); that every x-amz-* header is signed and host too; that the
// session token is present, carries a valid MAC, names the same access key
// and has not expired. It never reads the body.
//
// # What is refused
//
// Long-term keys (no session token: InvalidToken), Signature Version 2
// Authorization headers,
// other regions, request bodies (a payload hash other than that of the
// empty body, and STREAMING-* payloads), session policies at STS, every
// write, every subresource, versionId, partNumber, SSE-C, SelectObjectContent.
//
// # Mounting
//
// Verify signs over r.URL.Path and Classify routes on it, so the S3 handler
// must see the path exactly as the client sent it: mount it on its own
// listener or host, not under http.StripPrefix, and not behind a ServeMux
// pattern that cleans paths ("/b//k" is key "/k" in S3). Buckets are path
// style only. Use the values ParseListQuery and Classify return rather than
// re-reading r.URL.Query(): they come from the same parser Verify signs
// over.
package s3api
