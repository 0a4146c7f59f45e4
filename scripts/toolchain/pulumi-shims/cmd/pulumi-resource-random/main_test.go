package main

import (
	"context"
	"sort"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"platform.local/toolchain/pulumi-shims/internal/randomgen"
)

func check(t *testing.T, typ string, in resource.PropertyMap) (*pulumirpc.CheckResponse, error) {
	t.Helper()
	news, err := marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	return (&randomProvider{}).Check(context.Background(), &pulumirpc.CheckRequest{Type: typ, News: news})
}

func TestSchemaListsTheImplementedResourcesWithTheirInputs(t *testing.T) {
	s := schema("4.21.4")
	resources := s["resources"].(prop)
	var tokens []string
	for token := range resources {
		tokens = append(tokens, token)
	}
	sort.Strings(tokens)
	if strings.Join(tokens, " ") != strings.Join([]string{tID, tPassword, tString}, " ") {
		t.Fatalf("resources %v", tokens)
	}
	password := resources[tPassword].(prop)
	for _, k := range randomgen.InputKeys {
		if _, ok := password["inputProperties"].(prop)[k]; !ok {
			t.Errorf("RandomPassword input %s missing from the schema", k)
		}
	}
	for _, k := range []string{"result", "bcryptHash"} {
		if p := password["properties"].(prop)[k].(prop); p["secret"] != true {
			t.Errorf("RandomPassword output %s must be secret: %v", k, p)
		}
	}
}

func TestCheckReportsUpstreamFailuresThroughTheProtocol(t *testing.T) {
	in := resource.PropertyMap{
		"length":   resource.NewNumberProperty(4),
		"minUpper": resource.MakeSecret(resource.NewNumberProperty(3)),
		"minLower": resource.NewNumberProperty(2),
	}
	resp, err := check(t, tPassword, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Failures) != 1 || resp.Failures[0].Property != "length" || !strings.Contains(resp.Failures[0].Reason, "(5), got: 4") {
		t.Fatalf("failures %v", resp.Failures)
	}
}

func TestCheckFillsUpstreamDefaults(t *testing.T) {
	resp, err := check(t, tString, resource.PropertyMap{"length": resource.NewNumberProperty(8), "number": resource.NewBoolProperty(false)})
	if err != nil || len(resp.Failures) != 0 {
		t.Fatalf("%v %v", err, resp)
	}
	out, err := unmarshal(resp.Inputs)
	if err != nil {
		t.Fatal(err)
	}
	if out["numeric"].BoolValue() || !out["special"].BoolValue() || out["minSpecial"].NumberValue() != 0 {
		t.Fatalf("defaults %v", out)
	}
}

func TestAResourceThisStandInDoesNotImplementIsRejected(t *testing.T) {
	_, err := check(t, "random:index/randomPet:RandomPet", resource.PropertyMap{})
	if err == nil || !strings.Contains(err.Error(), "is not implemented by this stand-in random provider") {
		t.Fatalf("want a clear rejection, got %v", err)
	}
}
