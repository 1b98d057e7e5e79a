// Package e2e holds the tests whose subject is the whole system: the
// attack suite, the stock Hub and S3 clients, the decision table over both
// storage backends, streaming memory, a full audit device, the documented
// commands and the soak. They start gateways through internal/gatewaytest
// and run every case on the dir backend; the S3 backend's half needs the S3
// test server (scripts/s3-server.sh) and skips without it, or fails when
// WEIGHTGATE_TEST_S3_REQUIRED=1.
package e2e
