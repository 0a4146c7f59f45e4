// pulumi-language-python: a small language host for Pulumi Python programs.
//
// The upstream host (module github.com/pulumi/pulumi/sdk/python/cmd/pulumi-language-python/v3)
// is not served by the module proxy available here, so this implements the subset of the
// LanguageRuntime gRPC service that `pulumi preview|up|refresh|destroy|install|about` need,
// and RunPlugin, which runs CrossGuard policy packs (`--policy-pack`).
// Programs are executed by the upstream `pulumi-language-python-exec` shim (shipped in the
// published sdk/v3 module under python/cmd/), which toolchain.sh installs next to this binary.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Version is set with -ldflags "-X main.Version=...".
var Version = "3.274.1"

const bailExitCode = 32 // PYTHON_PROCESS_EXITED_AFTER_SHOWING_USER_ACTIONABLE_MESSAGE_CODE

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	mu            sync.Mutex
	engineAddress string
	rootDir       string
	programDir    string
	argVirtualenv string
	execPath      string
}

func main() {
	h := &host{}
	var positional []string
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "-") {
			name := strings.TrimLeft(a, "-")
			val := ""
			if k, v, ok := strings.Cut(name, "="); ok {
				name, val = k, v
			} else if name != "" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") &&
				(name == "virtualenv" || name == "root" || name == "tracing" || name == "use-executor" ||
					name == "typechecker" || name == "toolchain") {
				val = args[i+1]
				i++
			}
			switch name {
			case "virtualenv":
				h.argVirtualenv = val
			case "root":
				h.rootDir = val
			case "use-executor":
				h.execPath = val
			}
			continue
		}
		positional = append(positional, a)
	}
	if len(positional) > 0 {
		h.engineAddress = positional[len(positional)-1]
	}
	if h.execPath == "" {
		self, err := os.Executable()
		if err == nil {
			h.execPath = filepath.Join(filepath.Dir(self), "pulumi-language-python-exec")
		}
	}
	if _, err := os.Stat(h.execPath); err != nil {
		fmt.Fprintf(os.Stderr, "missing executor %s\n", h.execPath)
		os.Exit(1)
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(srv *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(srv, h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "could not start language host RPC server: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port)
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "language host RPC stopped serving: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) Handshake(ctx context.Context, req *pulumirpc.LanguageHandshakeRequest) (*pulumirpc.LanguageHandshakeResponse, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if req.EngineAddress != "" {
		h.engineAddress = req.EngineAddress
	}
	if req.RootDirectory != nil {
		h.rootDir = *req.RootDirectory
	}
	if req.ProgramDirectory != nil {
		h.programDir = *req.ProgramDirectory
	}
	return &pulumirpc.LanguageHandshakeResponse{}, nil
}

func (h *host) GetPluginInfo(ctx context.Context, _ *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

// venvDir returns the absolute virtualenv directory ("" when none is configured).
func (h *host) venvDir(info *pulumirpc.ProgramInfo) string {
	venv := h.argVirtualenv
	root := h.rootDir
	if info != nil {
		if info.RootDirectory != "" {
			root = info.RootDirectory
		}
		if info.Options != nil {
			if v, ok := info.Options.Fields["virtualenv"]; ok && v.GetStringValue() != "" {
				venv = v.GetStringValue()
			}
		}
	}
	if venv == "" {
		return ""
	}
	if !filepath.IsAbs(venv) {
		if root == "" {
			root, _ = os.Getwd()
		}
		venv = filepath.Join(root, venv)
	}
	return venv
}

func (h *host) python(info *pulumirpc.ProgramInfo) (string, []string) {
	env := os.Environ()
	if venv := h.venvDir(info); venv != "" {
		bin := filepath.Join(venv, "bin")
		env = append(env, "VIRTUAL_ENV="+venv, "PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"))
		env = filterEnv(env, "PYTHONHOME")
		return filepath.Join(bin, "python"), env
	}
	if p := os.Getenv("PULUMI_PYTHON_CMD"); p != "" {
		return p, env
	}
	if p, err := exec.LookPath("python3"); err == nil {
		return p, env
	}
	return "python", env
}

func filterEnv(env []string, name string) []string {
	out := env[:0]
	for _, e := range env {
		if !strings.HasPrefix(e, name+"=") {
			out = append(out, e)
		}
	}
	return out
}

// listPluginsScript prints the resource plugins declared by installed pulumi-* distributions
// (their pulumi-plugin.json), the same information the upstream host derives from pip.
const listPluginsScript = `
import json, importlib.metadata as md, os
out = []
seen = set()
for d in md.distributions():
    name = (d.metadata.get("Name") or "").lower().replace("_", "-")
    if not name.startswith("pulumi-") or name in seen or name == "pulumi-policy":
        continue
    seen.add(name)
    mod = name.replace("-", "_")
    entry = {"package": name, "version": d.version, "resource": True, "name": name[len("pulumi-"):], "pversion": d.version, "server": ""}
    try:
        p = d.locate_file(os.path.join(mod, "pulumi-plugin.json"))
        if not os.path.exists(p):
            p = d.locate_file(os.path.join(mod, "pulumiplugin.json"))
        if os.path.exists(p):
            j = json.load(open(p))
            entry["resource"] = j.get("resource", True)
            entry["name"] = j.get("name") or entry["name"]
            entry["pversion"] = j.get("version") or entry["pversion"]
            entry["server"] = j.get("server") or ""
    except Exception:
        pass
    out.append(entry)
print(json.dumps(out))
`

type pyPkg struct {
	Package  string `json:"package"`
	Version  string `json:"version"`
	Resource bool   `json:"resource"`
	Name     string `json:"name"`
	PVersion string `json:"pversion"`
	Server   string `json:"server"`
}

func (h *host) pulumiPackages(info *pulumirpc.ProgramInfo) ([]pyPkg, error) {
	py, env := h.python(info)
	cmd := exec.Command(py, "-c", listPluginsScript)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("listing Python packages with %s: %w: %s", py, err, stderr.String())
	}
	var pkgs []pyPkg
	if err := json.Unmarshal(out, &pkgs); err != nil {
		return nil, fmt.Errorf("parsing package list: %w", err)
	}
	return pkgs, nil
}

func pluginVersion(v string) (string, bool) {
	// Only plain releases map 1:1 onto plugin versions (as upstream).
	for _, c := range v {
		if !(c == '.' || (c >= '0' && c <= '9')) {
			return "", false
		}
	}
	return "v" + strings.TrimPrefix(v, "v"), true
}

func (h *host) GetRequiredPlugins(ctx context.Context, req *pulumirpc.GetRequiredPluginsRequest) (*pulumirpc.GetRequiredPluginsResponse, error) {
	pkgs, err := h.pulumiPackages(req.Info)
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPluginsResponse{}
	for _, p := range pkgs {
		if !p.Resource {
			continue
		}
		v, ok := pluginVersion(p.PVersion)
		if !ok {
			continue
		}
		resp.Plugins = append(resp.Plugins, &pulumirpc.PluginDependency{Name: p.Name, Kind: "resource", Version: v, Server: p.Server})
	}
	return resp, nil
}

func (h *host) GetRequiredPackages(ctx context.Context, req *pulumirpc.GetRequiredPackagesRequest) (*pulumirpc.GetRequiredPackagesResponse, error) {
	plugins, err := h.GetRequiredPlugins(ctx, &pulumirpc.GetRequiredPluginsRequest{Info: req.Info})
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetRequiredPackagesResponse{}
	for _, p := range plugins.Plugins {
		resp.Packages = append(resp.Packages, &pulumirpc.PackageDependency{Name: p.Name, Kind: p.Kind, Version: p.Version, Server: p.Server})
	}
	return resp, nil
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	py, env := h.python(req.Info)
	config := req.Config
	if config == nil {
		config = map[string]string{}
	}
	cfg, err := json.Marshal(config)
	if err != nil {
		return nil, err
	}
	keys := req.ConfigSecretKeys
	if keys == nil {
		keys = []string{}
	}
	secretKeys, err := json.Marshal(keys)
	if err != nil {
		return nil, err
	}
	env = append(env, "PULUMI_CONFIG="+string(cfg), "PULUMI_CONFIG_SECRET_KEYS="+string(secretKeys))

	program := req.Program
	root := h.rootDir
	if req.Info != nil {
		if req.Info.EntryPoint != "" {
			program = req.Info.EntryPoint
		}
		if req.Info.RootDirectory != "" {
			root = req.Info.RootDirectory
		}
	}
	if program == "" {
		program = "."
	}
	engine := h.engineAddress
	args := []string{"-u", h.execPath,
		"--monitor", req.MonitorAddress,
		"--engine", engine,
		"--project", req.Project,
		"--stack", req.Stack,
		"--pwd", req.Pwd,
		"--dry_run", strconv.FormatBool(req.DryRun),
		"--parallel", strconv.Itoa(int(req.Parallel)),
	}
	if req.Organization != "" {
		args = append(args, "--organization", req.Organization)
	}
	if root != "" {
		args = append(args, "--root_directory", root)
	}
	args = append(args, program)
	args = append(args, req.Args...)

	cmd := exec.CommandContext(ctx, py, args...)
	cmd.Env = env
	cmd.Dir = req.Pwd
	cmd.Stdout = os.Stdout
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) {
			if exitErr.ExitCode() == bailExitCode {
				return &pulumirpc.RunResponse{Bail: true}, nil
			}
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode())}, nil
		}
		return &pulumirpc.RunResponse{Error: fmt.Sprintf("Problem executing program (could not run language executor): %v", err)}, nil
	}
	return &pulumirpc.RunResponse{}, nil
}

type streamWriter struct {
	send   func(*pulumirpc.InstallDependenciesResponse) error
	stderr bool
}

func (w streamWriter) Write(p []byte) (int, error) {
	b := append([]byte(nil), p...)
	r := &pulumirpc.InstallDependenciesResponse{Stdout: b}
	if w.stderr {
		r = &pulumirpc.InstallDependenciesResponse{Stderr: b}
	}
	if err := w.send(r); err != nil {
		return 0, err
	}
	return len(p), nil
}

// InstallDependencies creates the configured virtualenv (if missing) and pip-installs requirements.txt.
func (h *host) InstallDependencies(req *pulumirpc.InstallDependenciesRequest, srv grpc.ServerStreamingServer[pulumirpc.InstallDependenciesResponse]) error {
	dir := req.Directory
	if req.Info != nil && req.Info.ProgramDirectory != "" {
		dir = req.Info.ProgramDirectory
	}
	stdout := streamWriter{send: srv.Send}
	stderr := streamWriter{send: srv.Send, stderr: true}
	run := func(name string, args ...string) error {
		c := exec.Command(name, args...)
		c.Dir = dir
		c.Stdout, c.Stderr = stdout, stderr
		return c.Run()
	}
	venv := h.venvDir(req.Info)
	py := "python3"
	if venv != "" {
		if _, err := os.Stat(filepath.Join(venv, "bin", "python")); err != nil {
			base := os.Getenv("PULUMI_PYTHON_CMD")
			if base == "" {
				base = "python3"
			}
			if err := run(base, "-m", "venv", venv); err != nil {
				return fmt.Errorf("creating virtualenv %s: %w", venv, err)
			}
		}
		py = filepath.Join(venv, "bin", "python")
	}
	req_ := filepath.Join(dir, "requirements.txt")
	if _, err := os.Stat(req_); err == nil {
		if err := run(py, "-m", "pip", "install", "-r", req_); err != nil {
			return fmt.Errorf("installing dependencies: %w", err)
		}
	}
	return nil
}

func (h *host) About(ctx context.Context, req *pulumirpc.AboutRequest) (*pulumirpc.AboutResponse, error) {
	py, env := h.python(req.Info)
	c := exec.Command(py, "--version")
	c.Env = env
	out, _ := c.CombinedOutput()
	v := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "Python "))
	return &pulumirpc.AboutResponse{Executable: py, Version: v}, nil
}

func (h *host) GetProgramDependencies(ctx context.Context, req *pulumirpc.GetProgramDependenciesRequest) (*pulumirpc.GetProgramDependenciesResponse, error) {
	pkgs, err := h.pulumiPackages(req.Info)
	if err != nil {
		return nil, err
	}
	resp := &pulumirpc.GetProgramDependenciesResponse{}
	for _, p := range pkgs {
		resp.Dependencies = append(resp.Dependencies, &pulumirpc.DependencyInfo{Name: p.Package, Version: p.Version})
	}
	return resp, nil
}

// RunPlugin runs a Python plugin, which is how the CLI starts a CrossGuard policy pack
// (`pulumi preview --policy-pack DIR`). As the upstream host does for a plugin directory with a
// __main__.py: `python <program directory> <args>` with the plugin's virtualenv (option
// `virtualenv`, default "venv": plugins never run on the ambient Python), in req.Pwd with
// req.Env added, output streamed to the engine, and the exit code reported.
func (h *host) RunPlugin(req *pulumirpc.RunPluginRequest, server pulumirpc.LanguageRuntime_RunPluginServer) error {
	info := req.Info
	if info == nil || info.ProgramDirectory == "" {
		return status.Error(codes.InvalidArgument, "RunPlugin needs the plugin's program directory")
	}
	if _, err := os.Stat(filepath.Join(info.ProgramDirectory, "__main__.py")); err != nil {
		return fmt.Errorf("this stand-in language host runs only plugin directories with a __main__.py: %w", err)
	}
	venv := "venv"
	if info.Options != nil && info.Options.Fields["virtualenv"].GetStringValue() != "" {
		venv = info.Options.Fields["virtualenv"].GetStringValue()
	}
	if !filepath.IsAbs(venv) {
		root := info.RootDirectory
		if root == "" {
			root = info.ProgramDirectory
		}
		venv = filepath.Join(root, venv)
	}
	py := filepath.Join(venv, "bin", "python")
	if _, err := os.Stat(py); err != nil {
		return fmt.Errorf("the plugin's virtualenv %s has no bin/python: create it and install the plugin's requirements (%w)", venv, err)
	}
	closer, stdout, stderr, err := rpcutil.MakeRunPluginStreams(server, false)
	if err != nil {
		return err
	}
	defer closer.Close()
	cmd := exec.CommandContext(server.Context(), py, append([]string{info.ProgramDirectory}, req.Args...)...)
	cmd.Dir = req.Pwd
	env := filterEnv(os.Environ(), "PYTHONHOME")
	env = append(env, "VIRTUAL_ENV="+venv, "PATH="+filepath.Join(venv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
	cmd.Env = append(env, req.Env...)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			return fmt.Errorf("running plugin %s: %w", info.ProgramDirectory, err)
		}
		if err := closer.Close(); err != nil {
			return err
		}
		return server.Send(&pulumirpc.RunPluginResponse{Output: &pulumirpc.RunPluginResponse_Exitcode{Exitcode: int32(exitErr.ExitCode())}})
	}
	return closer.Close()
}

func (h *host) RuntimeOptionsPrompts(ctx context.Context, req *pulumirpc.RuntimeOptionsRequest) (*pulumirpc.RuntimeOptionsResponse, error) {
	return &pulumirpc.RuntimeOptionsResponse{}, nil
}

func (h *host) GenerateProgram(ctx context.Context, req *pulumirpc.GenerateProgramRequest) (*pulumirpc.GenerateProgramResponse, error) {
	return nil, status.Error(codes.Unimplemented, "GenerateProgram is not supported by this language host")
}
