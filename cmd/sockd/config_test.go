package main

import (
	"errors"
	"io"
	"strings"
	"testing"
)

func TestConfigEnvAndFlags(t *testing.T) {
	t.Setenv("SOCKD_GRPC_ADDR", "127.0.0.1:6000")
	t.Setenv("SOCKD_MAX_CALL_BYTES", "1024")
	c, err := parseConfig([]string{"--max-call-bytes", "2048"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.grpcAddr != "127.0.0.1:6000" {
		t.Errorf("SOCKD_GRPC_ADDR ignored: %s", c.grpcAddr)
	}
	if c.maxCallBytes != 2048 {
		t.Errorf("the command line must win over the environment: %d", c.maxCallBytes)
	}
	t.Setenv("SOCKD_SHUTDOWN_TIMEOUT", "soon")
	if _, err := parseConfig(nil, io.Discard); !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "SOCKD_SHUTDOWN_TIMEOUT") {
		t.Errorf("a bad environment value: %v", err)
	}
}

func TestConfigRefusesNonLoopbackWithoutAuth(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--grpc-addr", "127.0.0.1:0"}, true},
		{[]string{"--grpc-addr", "[::1]:0"}, true},
		{[]string{"--grpc-addr", "localhost:0"}, true},
		{[]string{"--grpc-addr", "0.0.0.0:0"}, false},
		{[]string{"--grpc-addr", ":50051"}, false},
		{[]string{"--grpc-addr", "[::]:0"}, false},
		{[]string{"--grpc-addr", "myhost:0"}, false},
		{[]string{"--http-addr", "0.0.0.0:8080"}, false},
		{[]string{"--http-addr", "0.0.0.0:8080", "--insecure"}, true},
		{[]string{"--http-addr", ""}, true},
	} {
		_, err := parseConfig(tc.args, io.Discard)
		if (err == nil) != tc.ok {
			t.Errorf("%v: err = %v, want ok=%v", tc.args, err, tc.ok)
		}
		if err != nil && !tc.ok && !strings.Contains(err.Error(), "refusing to listen") {
			t.Errorf("%v: %v does not say why", tc.args, err)
		}
	}
}
