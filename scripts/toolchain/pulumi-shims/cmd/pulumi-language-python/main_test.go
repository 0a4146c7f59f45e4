package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/structpb"
)

// runPluginServer collects what RunPlugin streams to the engine.
type runPluginServer struct {
	grpc.ServerStream
	stdout, stderr bytes.Buffer
	exitCode       *int32
}

func (s *runPluginServer) Context() context.Context { return context.Background() }

func (s *runPluginServer) Send(r *pulumirpc.RunPluginResponse) error {
	switch o := r.Output.(type) {
	case *pulumirpc.RunPluginResponse_Stdout:
		s.stdout.Write(o.Stdout)
	case *pulumirpc.RunPluginResponse_Stderr:
		s.stderr.Write(o.Stderr)
	case *pulumirpc.RunPluginResponse_Exitcode:
		code := o.Exitcode
		s.exitCode = &code
	}
	return nil
}

// pack makes a plugin directory with a __main__.py and a fake virtualenv whose python prints
// its arguments, working directory and one variable, then exits with `code`.
func pack(t *testing.T, venv string, code string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "__main__.py"), []byte("# the pack\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, venv, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	script := "#!/bin/sh\necho \"args=$* pwd=$(pwd) engine=$PULUMI_TEST_ENGINE venv=$VIRTUAL_ENV\"\necho oops >&2\nexit " + code + "\n"
	if err := os.WriteFile(filepath.Join(bin, "python"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func request(dir string, options map[string]any) *pulumirpc.RunPluginRequest {
	opts, _ := structpb.NewStruct(options)
	return &pulumirpc.RunPluginRequest{
		Pwd:  dir,
		Args: []string{"127.0.0.1:4242"},
		Env:  []string{"PULUMI_TEST_ENGINE=yes"},
		Info: &pulumirpc.ProgramInfo{RootDirectory: dir, ProgramDirectory: dir, EntryPoint: ".", Options: opts},
		Kind: "analyzer",
	}
}

func TestRunPluginRunsThePackDirectoryWithItsVirtualenv(t *testing.T) {
	dir := pack(t, "venv", "0")
	srv := &runPluginServer{}
	if err := (&host{}).RunPlugin(request(dir, map[string]any{"toolchain": "pip"}), srv); err != nil {
		t.Fatal(err)
	}
	want := "args=" + dir + " 127.0.0.1:4242 pwd=" + dir + " engine=yes venv=" + filepath.Join(dir, "venv")
	if got := strings.TrimSpace(srv.stdout.String()); got != want {
		t.Fatalf("stdout %q, want %q", got, want)
	}
	if strings.TrimSpace(srv.stderr.String()) != "oops" || srv.exitCode != nil {
		t.Fatalf("stderr %q exit %v", srv.stderr.String(), srv.exitCode)
	}
}

func TestRunPluginReportsTheExitCode(t *testing.T) {
	dir := pack(t, "custom-env", "3")
	srv := &runPluginServer{}
	if err := (&host{}).RunPlugin(request(dir, map[string]any{"virtualenv": "custom-env"}), srv); err != nil {
		t.Fatal(err)
	}
	if srv.exitCode == nil || *srv.exitCode != 3 {
		t.Fatalf("exit code %v, want 3", srv.exitCode)
	}
}

func TestRunPluginWithoutAVirtualenvSaysSo(t *testing.T) {
	dir := pack(t, "elsewhere", "0")
	err := (&host{}).RunPlugin(request(dir, nil), &runPluginServer{})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "venv")+" has no bin/python") {
		t.Fatalf("want an error naming the missing virtualenv, got %v", err)
	}
}
