// pulumi-resource-random: a small native stand-in for the `random` resource provider.
//
// The real provider (github.com/pulumi/pulumi-random/provider/v4, a Terraform bridge) is not
// served by the Go module proxy available here. This implements the resources the program
// uses with the same type tokens and property names as pulumi-random 4.21.4:
//   random:index/randomPassword:RandomPassword  (outputs: result, bcryptHash)
//   random:index/randomString:RandomString      (outputs: result)
//   random:index/randomId:RandomId              (outputs: b64Url, b64Std, hex, dec)
// As in the Terraform provider, every input change forces replacement, and `refresh` keeps state.
package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"

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
	tPassword: {"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper", "number", "numeric", "overrideSpecial", "special", "upper"},
	tString:   {"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper", "number", "numeric", "overrideSpecial", "special", "upper"},
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
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":"random","version":%q}`, Version)}, nil
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

func boolDefault(m resource.PropertyMap, k string, d bool) {
	if v, ok := m[resource.PropertyKey(k)]; !ok || v.IsNull() {
		m[resource.PropertyKey(k)] = resource.NewBoolProperty(d)
	}
}

func numDefault(m resource.PropertyMap, k string, d float64) {
	if v, ok := m[resource.PropertyKey(k)]; !ok || v.IsNull() {
		m[resource.PropertyKey(k)] = resource.NewNumberProperty(d)
	}
}

func (p *randomProvider) Check(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	news, err := unmarshal(req.News)
	if err != nil {
		return nil, err
	}
	var failures []*pulumirpc.CheckFailure
	switch req.Type {
	case tPassword, tString:
		for _, k := range []string{"lower", "upper", "special", "numeric", "number"} {
			boolDefault(news, k, true)
		}
		for _, k := range []string{"minLower", "minUpper", "minNumeric", "minSpecial"} {
			numDefault(news, k, 0)
		}
		if v, ok := news["length"]; !ok || v.IsNull() {
			failures = append(failures, &pulumirpc.CheckFailure{Property: "length", Reason: "missing required property 'length'"})
		} else if v.IsNumber() && v.NumberValue() < 1 {
			failures = append(failures, &pulumirpc.CheckFailure{Property: "length", Reason: "length must be at least 1"})
		}
	case tID:
		if v, ok := news["byteLength"]; !ok || v.IsNull() {
			failures = append(failures, &pulumirpc.CheckFailure{Property: "byteLength", Reason: "missing required property 'byteLength'"})
		}
	default:
		return nil, status.Errorf(codes.InvalidArgument, "unknown resource type %q", req.Type)
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
	var replaces []string
	for _, k := range inputKeys[req.Type] {
		if ignore[k] {
			continue
		}
		o, oOK := olds[resource.PropertyKey(k)]
		n, nOK := news[resource.PropertyKey(k)]
		if oOK && o.IsNull() {
			oOK = false
		}
		if nOK && n.IsNull() {
			nOK = false
		}
		if oOK != nOK || (oOK && !o.DeepEquals(n)) {
			replaces = append(replaces, k)
		}
	}
	if len(replaces) == 0 {
		return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
	}
	sort.Strings(replaces)
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_SOME, Replaces: replaces, Diffs: replaces}, nil
}

func getNum(m resource.PropertyMap, k string) int {
	v, ok := m[resource.PropertyKey(k)]
	if !ok || !v.IsNumber() {
		return 0
	}
	return int(v.NumberValue())
}

func getBool(m resource.PropertyMap, k string, d bool) bool {
	v, ok := m[resource.PropertyKey(k)]
	if !ok || !v.IsBool() {
		return d
	}
	return v.BoolValue()
}

func randIndex(n int) (int, error) {
	i, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		return 0, err
	}
	return int(i.Int64()), nil
}

// generate follows terraform-provider-random's string generation: minimum counts per class first,
// then the remainder from the union of enabled classes, then a shuffle.
func generate(in resource.PropertyMap) (string, error) {
	const (
		lowerCs   = "abcdefghijklmnopqrstuvwxyz"
		upperCs   = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		numericCs = "0123456789"
	)
	specialCs := "!@#$%&*()-_=+[]{}<>:?"
	if v, ok := in["overrideSpecial"]; ok && v.IsString() {
		specialCs = v.StringValue()
	}
	length := getNum(in, "length")
	numeric := getBool(in, "numeric", true) && getBool(in, "number", true)
	classes := []struct {
		on  bool
		cs  string
		min int
	}{
		{getBool(in, "lower", true), lowerCs, getNum(in, "minLower")},
		{getBool(in, "upper", true), upperCs, getNum(in, "minUpper")},
		{numeric, numericCs, getNum(in, "minNumeric")},
		{getBool(in, "special", true), specialCs, getNum(in, "minSpecial")},
	}
	var all string
	var out []byte
	for _, c := range classes {
		if !c.on || c.cs == "" {
			continue
		}
		all += c.cs
		for i := 0; i < c.min; i++ {
			j, err := randIndex(len(c.cs))
			if err != nil {
				return "", err
			}
			out = append(out, c.cs[j])
		}
	}
	if all == "" {
		return "", fmt.Errorf("at least one of lower, upper, numeric, special must be enabled")
	}
	for len(out) < length {
		j, err := randIndex(len(all))
		if err != nil {
			return "", err
		}
		out = append(out, all[j])
	}
	for i := len(out) - 1; i > 0; i-- {
		j, err := randIndex(i + 1)
		if err != nil {
			return "", err
		}
		out[i], out[j] = out[j], out[i]
	}
	return string(out), nil
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
		s, err := generate(in)
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
