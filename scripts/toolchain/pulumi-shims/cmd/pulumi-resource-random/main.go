// pulumi-resource-random: a small native stand-in for the `random` resource provider.
//
// The real provider (github.com/pulumi/pulumi-random/provider/v4, a Terraform bridge) is not
// served by the Go module proxy available here. This implements the resources the program
// uses with the same type tokens and property names as pulumi-random 4.21.4:
//
//	random:index/randomPassword:RandomPassword  (outputs: result, bcryptHash)
//	random:index/randomString:RandomString      (outputs: result)
//	random:index/randomId:RandomId              (outputs: b64Url, b64Std, hex, dec)
//
// RandomPassword and RandomString check, default, generate and diff as upstream does (package
// internal/randomgen, with Go tests); inputs upstream rejects at preview are rejected here at
// check time with upstream's reasons. `refresh` keeps state. Other random resources (RandomPet,
// RandomUuid, RandomInteger, RandomShuffle, RandomBytes) are not implemented: they are rejected.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"

	"platform.local/toolchain/pulumi-shims/internal/randomgen"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// Version is set with -ldflags "-X main.Version=...".
var Version = "4.21.4"

const (
	tPassword = "random:index/randomPassword:RandomPassword"
	tString   = "random:index/randomString:RandomString"
	tID       = "random:index/randomId:RandomId"
)

var inputKeys = map[string][]string{
	tPassword: randomgen.InputKeys,
	tString:   randomgen.InputKeys,
	tID:       {"byteLength", "keepers", "prefix"},
}

type randomProvider struct {
	pulumirpc.UnimplementedResourceProviderServer
}

func main() {
	if err := provider.Main("random", func(*provider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return &randomProvider{}, nil
	}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

var mopts = plugin.MarshalOptions{KeepUnknowns: true, SkipNulls: true}

func unmarshal(s *structpb.Struct) (resource.PropertyMap, error) {
	return plugin.UnmarshalProperties(s, mopts)
}

func marshal(m resource.PropertyMap) (*structpb.Struct, error) {
	return plugin.MarshalProperties(m, mopts)
}

func (p *randomProvider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: Version}, nil
}

func (p *randomProvider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	b, err := json.Marshal(schema(Version))
	if err != nil {
		return nil, err
	}
	return &pulumirpc.GetSchemaResponse{Schema: string(b)}, nil
}

func (p *randomProvider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.News}, nil
}

func (p *randomProvider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *randomProvider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: false}, nil
}

func (p *randomProvider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// inputs converts the string resources' inputs to randomgen's plain values (secrets unwrapped).
func inputs(m resource.PropertyMap) randomgen.Inputs {
	out := randomgen.Inputs{}
	for _, k := range randomgen.InputKeys {
		if v, ok := m[resource.PropertyKey(k)]; ok {
			out[k] = plain(v)
		}
	}
	return out
}

func plain(v resource.PropertyValue) any {
	switch {
	case v.IsSecret():
		return plain(v.SecretValue().Element)
	case v.IsObject():
		o := map[string]any{}
		for k, x := range v.ObjectValue() {
			o[string(k)] = plain(x)
		}
		return o
	case v.IsBool():
		return v.BoolValue()
	case v.IsNumber():
		return v.NumberValue()
	case v.IsString():
		return v.StringValue()
	}
	return nil
}

func (p *randomProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := unmarshal(req.News)
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	switch req.Type {
	case tPassword, tString:
		if news.ContainsUnknowns() {
			break // as upstream: validation waits until every input is known
		}
		defaulted, _, problems := randomgen.Check(inputs(news))
		for k, v := range defaulted {
			if _, ok := news[resource.PropertyKey(k)]; !ok {
				news[resource.PropertyKey(k)] = resource.NewPropertyValue(v)
			}
		}
		for _, f := range problems {
			failures = append(failures, &pulumirpc.CheckFailure{Property: f.Property, Reason: f.Reason})
		}
	case tID:
		if v, ok := news["byteLength"]; !ok || v.IsNull() {
			failures = append(failures, &pulumirpc.CheckFailure{Property: "byteLength", Reason: "missing required property 'byteLength'"})
		}
	default:
		return nil, status.Errorf(codes.InvalidArgument, "%q is not implemented by this stand-in random provider (only %s, %s, %s)", req.Type, tPassword, tString, tID)
	}
	out, err := marshal(news)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CheckResponse{Inputs: out, Failures: failures}, nil
}

func (p *randomProvider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	olds, err := unmarshal(req.Olds)
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.News)
	if err != nil {
		return nil, err
	}
	ignore := map[string]bool{}
	for _, k := range req.IgnoreChanges {
		ignore[k] = true
	}
	var changed, replaces []string
	if req.Type == tPassword || req.Type == tString {
		changed, replaces = randomgen.Changes(inputs(olds), inputs(news))
	} else {
		for _, k := range inputKeys[req.Type] {
			if o, n := olds[resource.PropertyKey(k)], news[resource.PropertyKey(k)]; !o.DeepEquals(n) {
				changed = append(changed, k)
			}
		}
		replaces = changed
	}
	changed, replaces = without(changed, ignore), without(replaces, ignore)
	if len(changed) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME, Replaces: replaces, Diffs: changed}, nil
}

func without(keys []string, drop map[string]bool) []string {
	var out []string
	for _, k := range keys {
		if !drop[k] {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func getNum(m resource.PropertyMap, k string) int {
	v, ok := m[resource.PropertyKey(k)]
	if !ok || !v.IsNumber() {
		return 0
	}
	return int(v.NumberValue())
}

func (p *randomProvider) Create(_ context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	in, err := unmarshal(req.Properties)
	if err != nil {
		return nil, err
	}
	outs := in.Copy()
	var id string
	switch req.Type {
	case tPassword, tString:
		_, spec, problems := randomgen.Check(inputs(in))
		if len(problems) > 0 {
			return nil, status.Errorf(codes.InvalidArgument, "%s: %s", problems[0].Property, problems[0].Reason)
		}
		s, err := randomgen.Generate(spec, rand.Reader)
		if err != nil {
			return nil, err
		}
		outs["result"] = resource.NewStringProperty(s)
		id = "none"
		if req.Type == tString {
			id = s
		} else {
			h, err := bcrypt.GenerateFromPassword([]byte(s), bcrypt.DefaultCost)
			if err != nil {
				return nil, err
			}
			outs["bcryptHash"] = resource.NewStringProperty(string(h))
		}
	case tID:
		n := getNum(in, "byteLength")
		b := make([]byte, n)
		if _, err := rand.Read(b); err != nil {
			return nil, err
		}
		prefix := ""
		if v, ok := in["prefix"]; ok && v.IsString() {
			prefix = v.StringValue()
		}
		b64 := base64.RawURLEncoding.EncodeToString(b)
		outs["b64Url"] = resource.NewStringProperty(prefix + b64)
		outs["b64Std"] = resource.NewStringProperty(prefix + base64.StdEncoding.EncodeToString(b))
		outs["hex"] = resource.NewStringProperty(prefix + hex.EncodeToString(b))
		outs["dec"] = resource.NewStringProperty(prefix + new(big.Int).SetBytes(b).String())
		id = b64
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown resource type %q", req.Type)
	}
	st, err := marshal(outs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: st}, nil
}

func (p *randomProvider) Read(_ context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	// Nothing external to read: the state is the truth. Inputs are the input keys of the state.
	state, err := unmarshal(req.Properties)
	if err != nil {
		return nil, err
	}
	inputs := resource.PropertyMap{}
	if req.Inputs != nil {
		if inputs, err = unmarshal(req.Inputs); err != nil {
			return nil, err
		}
	} else {
		for _, k := range inputKeys[strings.TrimSpace(resourceType(req.Urn))] {
			if v, ok := state[resource.PropertyKey(k)]; ok {
				inputs[resource.PropertyKey(k)] = v
			}
		}
	}
	in, err := marshal(inputs)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.Id, Properties: req.Properties, Inputs: in}, nil
}

func resourceType(urn string) string {
	parts := strings.Split(urn, "::")
	if len(parts) < 4 {
		return ""
	}
	t := parts[2]
	if i := strings.LastIndex(t, "$"); i >= 0 {
		t = t[i+1:]
	}
	return t
}

func (p *randomProvider) Update(_ context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	olds, err := unmarshal(req.Olds)
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.News)
	if err != nil {
		return nil, err
	}
	// The state keeps the outputs and takes the new inputs, dropping inputs no longer set.
	for _, k := range inputKeys[resourceType(req.Urn)] {
		delete(olds, resource.PropertyKey(k))
	}
	for k, v := range news {
		olds[k] = v
	}
	st, err := marshal(olds)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: st}, nil
}

func (p *randomProvider) Delete(context.Context, *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}
