package render_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/portico-ingress/portico/pkg/render"
)

const blameConf = `http {
    log_format portico "$remote_addr $nope";
    server {
        server_name "a.example.com";
        # server-snippet "team/a"
        add_header X-A "1";
        if ($http_x = "y") {
            return 403;
        }
        # server-snippet end
        ssl_certificate "/certs/a.pem";
        # from "team/tls"
        ssl_certificate "/certs/weak.pem";
        # from end
        location = "/x" {
            # "team/x"
            if ($scheme = "http") {
                return 308 https://$host$request_uri;
            }
            more_set_headers "X-Y: z";
            set $x "${undefined_thing}";
        }
        location "/" {
            # "other/y"
            proxy_pass http://portico_balancer;
        }
    }
    access_log "/logs/missing/access.log" portico;
}
`

func TestBlame(t *testing.T) {
	tests := []struct {
		name, output string
		want         []string
	}{
		{"a location's line", `nginx: [emerg] unknown directive "more_set_headers" in /etc/portico/.nginx.conf.7.check:20`, []string{"team/x"}},
		{"inside an if of a location", `nginx: [emerg] something in /x:18`, []string{"team/x"}},
		{"a server line between from markers", `nginx: [emerg] SSL_CTX_use_certificate failed in /x:13`, []string{"team/tls"}},
		{"a server line after the end marker", `nginx: [emerg] bad in /x:15`, nil},
		{"a server-snippet line", `nginx: [emerg] bad in /x:6`, []string{"team/a"}},
		{"inside an if of a server-snippet", `nginx: [emerg] bad in /x:8`, []string{"team/a"}},
		{"a server line after the snippet", `nginx: [emerg] cannot load certificate in /x:11`, nil},
		{"the http level", `nginx: [emerg] bad in /x:2`, []string{render.GlobalSource}},
		{"an unknown variable names no line", `nginx: [emerg] unknown "undefined_thing" variable`, []string{"team/x"}},
		{"an unknown variable of the operator's", `nginx: [emerg] unknown "nope" variable`, []string{render.GlobalSource}},
		{"a variable prefix is not a use", `nginx: [emerg] unknown "undefined" variable`, nil},
		{"a line past the end", `nginx: [emerg] bad in /x:999`, nil},
		{"no place at all", `nginx: [alert] could not open error log file`, nil},
		{"a log file that cannot be opened", `nginx: [emerg] open() "/logs/missing/access.log" failed (2: No such file or directory)`, []string{render.GlobalSource}},
		{"a file no line names", `nginx: [emerg] open() "/logs/missing" failed (2: No such file or directory)`, nil},
		{"two places", "nginx: [emerg] a in /x:20\nnginx: [emerg] b in /x:25", []string{"other/y", "team/x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, render.Blame([]byte(blameConf), tt.output))
		})
	}
}
