package main

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// nginxServer is the baseline: one nginx with three servers in front of the
// same data, a reverse proxy to VersityGW with proxy_buffering on (nginx's
// default), the same with it off, and a static file server whose root is
// VersityGW's bucket directory.
type nginxServer struct {
	proc                     *proc
	proxyOn, proxyOff, files string // 127.0.0.1:port of each server
	conf                     string // nginx.conf, as written
}

// The configuration. Paths nginx would otherwise take from its build
// (Debian's /var/lib/nginx temp dirs, /var/log/nginx, /run/nginx.pid) are
// all inside the prefix, so that this nginx shares nothing with a system
// one. Settings are the usual ones for serving large files well: upstream
// keep-alive, sendfile and tcp_nopush for files, no access log (the
// gateway's audit trail is its own cost, counted on its side), and for the
// proxies 256 KiB buffers, the size the gateway copies through (nginx's
// default is one page, which with buffering off means one read and one
// write per 4 KiB).
var nginxConf = template.Must(template.New("nginx.conf").Parse(`# Written by bench/wgbench.
{{if .User}}user {{.User}};
{{end}}worker_processes auto;
pid {{.Prefix}}/nginx.pid;
error_log {{.Prefix}}/logs/error.log error;

events {
    worker_connections 4096;
}

http {
    access_log off;
    client_body_temp_path {{.Prefix}}/tmp/body;
    proxy_temp_path {{.Prefix}}/tmp/proxy;
    fastcgi_temp_path {{.Prefix}}/tmp/fastcgi;
    uwsgi_temp_path {{.Prefix}}/tmp/uwsgi;
    scgi_temp_path {{.Prefix}}/tmp/scgi;

    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 75s;
    keepalive_requests 1000000;

    upstream versitygw {
        server {{.Upstream}};
        keepalive 256;
    }

    # Reverse proxy, proxy_buffering on (the default): responses larger than
    # the buffers are spooled to temporary files under the prefix.
    server {
        listen {{.ProxyOn}};
        location / {
            proxy_pass http://versitygw;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            # Presigned URLs are signed for the host the client asked:
            # VersityGW must see that host to verify them.
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_buffering on;
            proxy_buffer_size 256k;
            proxy_buffers 8 256k;
            proxy_busy_buffers_size 512k;
        }
    }

    # The same, proxy_buffering off: the response is relayed as it arrives.
    server {
        listen {{.ProxyOff}};
        location / {
            proxy_pass http://versitygw;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_request_buffering off;
            proxy_buffering off;
            proxy_buffer_size 256k;
            proxy_buffers 8 256k;
            proxy_busy_buffers_size 512k;
        }
    }

    # Static files: the bucket directory, which is what the dir-backend
    # gateway serves.
    server {
        listen {{.Files}};
        root {{.Root}};
        location / {
        }
    }
}
`))

// startNginx writes the configuration and starts nginx in the foreground
// (its master is then the child the benchmark tracks) with its own prefix.
func startNginx(ctx context.Context, ps *procs, bin, work string, s3 *s3Server) (*nginxServer, error) {
	prefix := filepath.Join(work, "nginx")
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			return nil, err
		}
	}
	// Run as root, nginx's workers would switch to nobody, who may not be
	// able to reach the work directory (e.g. under /root) nor read
	// VersityGW's files; they run as the invoking user instead.
	userName := ""
	if os.Geteuid() == 0 {
		if u, err := user.Current(); err == nil {
			userName = u.Username
		} else {
			userName = "root"
		}
	}
	n := &nginxServer{}
	p, _, err := startOnFreePort(ctx, "nginx", func(port int) (*proc, error) {
		ports := make([]int, 2)
		for i := range ports {
			p, err := freePort()
			if err != nil {
				return nil, err
			}
			ports[i] = p
		}
		n.proxyOn, n.proxyOff, n.files = hostPort(port), hostPort(ports[0]), hostPort(ports[1])
		var b strings.Builder
		if err := nginxConf.Execute(&b, map[string]string{
			"User": userName, "Prefix": prefix, "Upstream": s3.addr,
			"ProxyOn": n.proxyOn, "ProxyOff": n.proxyOff, "Files": n.files, "Root": s3.bucketDir(),
		}); err != nil {
			return nil, err
		}
		n.conf = b.String()
		confPath := filepath.Join(prefix, "nginx.conf")
		if err := os.WriteFile(confPath, []byte(n.conf), 0o644); err != nil {
			return nil, err
		}
		p, err := ps.start("nginx", filepath.Join(prefix, "logs", "stderr.log"), nil, bin,
			"-p", prefix, "-c", confPath, "-e", filepath.Join(prefix, "logs", "error.log"), "-g", "daemon off;")
		if err != nil {
			return nil, err
		}
		// Every server must answer before nginx counts as up. The health
		// path of VersityGW through the proxies; any file for the static
		// server.
		for _, u := range []string{"http://" + n.proxyOn + "/health", "http://" + n.proxyOff + "/health"} {
			if err := ps.readyOrInUse(ctx, p, u, 20*time.Second); err != nil {
				if strings.Contains(fileTail(filepath.Join(prefix, "logs", "error.log"), 2000), "Address already in use") {
					return nil, fmt.Errorf("nginx: %w", errAddrInUse)
				}
				return nil, fmt.Errorf("%w\nnginx error.log:\n%s", err, fileTail(filepath.Join(prefix, "logs", "error.log"), 2000))
			}
		}
		return p, nil
	})
	if err != nil {
		return nil, err
	}
	n.proc = p
	return n, nil
}
