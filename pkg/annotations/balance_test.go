package annotations

import "testing"

func TestBalanceValues(t *testing.T) {
	tests := []valueCase[Balance]{
		{key: "load-balance",
			valid: map[string]Balance{"round_robin": {Method: "round_robin"}, "ewma": {Method: "ewma"}, "least_conn": {Method: "least_conn"}},
			bad:   []string{"", "random", "ewma;", "EWMA"}},
		// With upstream blocks the key is an nginx hash directive: a
		// variable nginx does not know would fail nginx -t for everyone.
		{key: "upstream-hash-by",
			valid: map[string]Balance{
				"$request_uri":             {HashBy: "$request_uri"},
				"$request_uri$cookie_user": {HashBy: "$request_uri$cookie_user"},
				"$http_x_user":             {HashBy: "$http_x_user"},
				"$remote_addr$arg_session": {HashBy: "$remote_addr$arg_session"},
			},
			bad: []string{"", "request_uri", "$host; evil", "$no_such_variable", "$portico_route", "$http_", "$a$b$c$d$e", "${host}"}},
	}
	runValueCases(t, tests, func(s Set) Balance { return s.Balance })
}
