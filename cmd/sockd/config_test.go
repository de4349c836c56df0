package main

import (
	"errors"
	"io"
	"os"
	"strings"
	"testing"
	"time"
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

// --config reads every flag as a key; flags and the environment win over
// it; a key that is no flag or a bad value is refused, naming the key.
func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	write := func(text string) string {
		p := dir + "/sockd.yaml"
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	p := write("grpc-addr: 127.0.0.1:6001\nmax-call-bytes: 8388608\nidle-timeout: 10m\npprof: true\nallow-connect:\n  - 10.0.0.0/8\n  - 127.0.0.0/8\nmax-sockets: 512\n")
	t.Setenv("SOCKD_MAX_SOCKETS", "256")
	c, err := parseConfig([]string{"--config", p, "--grpc-addr", "127.0.0.1:6002"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.grpcAddr != "127.0.0.1:6002" || c.maxCallBytes != 8<<20 || c.idleTimeout != 10*time.Minute || !c.pprof ||
		len(c.allowConnect) != 2 || c.allowConnect[0] != "10.0.0.0/8" || c.maxSockets != 256 {
		t.Fatalf("config: %+v", c)
	}
	for text, want := range map[string]string{
		"max-sokets: 5\n":          `unknown key "max-sokets"`,
		"max-streams: lots\n":      "max-streams",
		"idle-timeout: [1s, 2s]\n": "idle-timeout takes one value",
		"- just\n- a list\n":       "not a YAML mapping",
		"config: other.yaml\n":     `unknown key "config"`,
	} {
		_, err := parseConfig([]string{"--config", write(text)}, io.Discard)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want a usage error saying %q", text, err, want)
		}
	}
	if _, err := parseConfig([]string{"--config", dir + "/missing.yaml"}, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("a missing file: %v", err)
	}
}
