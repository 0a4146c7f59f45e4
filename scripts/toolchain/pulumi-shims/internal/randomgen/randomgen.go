// Package randomgen is the behaviour of pulumi-random 4.21.4's RandomPassword and RandomString
// that the stand-in provider reproduces: input defaults and validation at check (preview) time,
// string generation, and which input changes replace the resource. Pure Go (standard library
// only) so `go test` runs it without the Pulumi SDK.
//
// pulumi-random bridges terraform-provider-random (v3.7); the rules follow its resource schema
// (internal/provider/resource_password.go, resource_string.go), its plan modifiers and
// validators, and internal/random/string.go. Read there, written here.
package randomgen

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"reflect"
	"sort"
)

// Character classes, as upstream.
const (
	LowerChars     = "abcdefghijklmnopqrstuvwxyz"
	UpperChars     = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	NumericChars   = "0123456789"
	DefaultSpecial = "!@#$%&*()-_=+[]{}<>:?"
)

// Inputs are the string inputs of RandomPassword/RandomString (Pulumi names); absent keys are
// not set. Values arrive as Pulumi's wire types: float64 numbers, bool, string, map.
type Inputs = map[string]any

// Failure is one rejected input, reported at check time like upstream's validators.
type Failure struct {
	Property string
	Reason   string
}

// Spec is a checked, defaulted input set: what generation needs.
type Spec struct {
	Length                                     int64
	Lower, Upper, Numeric, Special             bool
	MinLower, MinUpper, MinNumeric, MinSpecial int64
	OverrideSpecial                            string
}

// Check applies upstream's defaults (classes on, minimums 0, `number` and `numeric` kept equal)
// and validation. It returns the inputs with defaults filled in, the spec, and the failures.
func Check(in Inputs) (Inputs, Spec, []Failure) {
	out := Inputs{}
	for k, v := range in {
		if v != nil {
			out[k] = v
		}
	}
	var failures []Failure
	fail := func(p, format string, args ...any) {
		failures = append(failures, Failure{p, fmt.Sprintf(format, args...)})
	}

	// number (deprecated) and numeric: both default to true and follow each other; set both
	// to different values is an error (upstream NumberNumericAttributePlanModifier).
	number, hasNumber := out["number"].(bool)
	numeric, hasNumeric := out["numeric"].(bool)
	switch {
	case hasNumber && hasNumeric && number != numeric:
		fail("numeric", "Number and numeric are both configured with different values (number is deprecated, use numeric)")
	case !hasNumber && !hasNumeric:
		number, numeric = true, true
	case !hasNumber:
		number = numeric
	case !hasNumeric:
		numeric = number
	}
	// At least one class on, when all four are configured (upstream AtLeastOneOfTrue on number/numeric).
	explicitOff := func(k string) bool { v, ok := out[k].(bool); return ok && !v }
	if (hasNumber || hasNumeric) && !numeric && explicitOff("lower") && explicitOff("upper") && explicitOff("special") {
		fail("numeric", "At least one attribute out of [special, upper, lower, numeric] must be specified as true")
	}
	out["number"], out["numeric"] = number, numeric
	for _, k := range []string{"lower", "upper", "special"} {
		if _, ok := out[k].(bool); !ok {
			out[k] = true
		}
	}
	for _, k := range []string{"minLower", "minUpper", "minNumeric", "minSpecial"} {
		if _, ok := out[k].(float64); !ok {
			out[k] = float64(0)
		}
	}

	spec := Spec{
		Lower: out["lower"].(bool), Upper: out["upper"].(bool), Numeric: numeric, Special: out["special"].(bool),
		MinLower: int64(out["minLower"].(float64)), MinUpper: int64(out["minUpper"].(float64)),
		MinNumeric: int64(out["minNumeric"].(float64)), MinSpecial: int64(out["minSpecial"].(float64)),
	}
	if s, ok := out["overrideSpecial"].(string); ok {
		spec.OverrideSpecial = s
	}
	for _, k := range []string{"minLower", "minUpper", "minNumeric", "minSpecial"} {
		if v := out[k].(float64); v < 0 || v != float64(int64(v)) {
			fail(k, "Attribute %s must be a whole number of at least 0, got: %v", k, v)
		}
	}
	length, ok := out["length"].(float64)
	sum := spec.MinLower + spec.MinUpper + spec.MinNumeric + spec.MinSpecial
	switch {
	case !ok:
		fail("length", "Missing required argument: length")
	case length != float64(int64(length)):
		fail("length", "Attribute length must be a whole number, got: %v", length)
	case length < 1:
		fail("length", "Attribute length value must be at least 1, got: %d", int64(length))
	case int64(length) < sum:
		fail("length", "Attribute length value must be at least sum of minLower + minUpper + minNumeric + minSpecial (%d), got: %d", sum, int64(length))
	default:
		spec.Length = int64(length)
	}
	return out, spec, failures
}

// Generate makes a string as upstream does: the minimum count of each class, enabled or not,
// drawn from that class; the rest from the union of the enabled classes; then shuffled. An
// empty overrideSpecial means the default special characters.
func Generate(s Spec, random io.Reader) (string, error) {
	special := DefaultSpecial
	if s.OverrideSpecial != "" {
		special = s.OverrideSpecial
	}
	chars := ""
	for _, c := range []struct {
		on  bool
		set string
	}{{s.Upper, UpperChars}, {s.Lower, LowerChars}, {s.Numeric, NumericChars}, {s.Special, special}} {
		if c.on {
			chars += c.set
		}
	}
	if chars == "" {
		return "", errors.New("the character set specified is empty")
	}
	var result []rune
	for _, m := range []struct {
		set string
		n   int64
	}{{NumericChars, s.MinNumeric}, {LowerChars, s.MinLower}, {UpperChars, s.MinUpper}, {special, s.MinSpecial}} {
		part, err := draw(m.set, m.n, random)
		if err != nil {
			return "", err
		}
		result = append(result, part...)
	}
	rest, err := draw(chars, s.Length-int64(len(result)), random)
	if err != nil {
		return "", err
	}
	result = append(result, rest...)
	// Fisher-Yates with the same random source.
	for i := len(result) - 1; i > 0; i-- {
		j, err := rand.Int(random, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		result[i], result[j.Int64()] = result[j.Int64()], result[i]
	}
	return string(result), nil
}

func draw(set string, n int64, random io.Reader) ([]rune, error) {
	runes := []rune(set)
	out := make([]rune, 0, max(n, 0))
	for i := int64(0); i < n; i++ {
		j, err := rand.Int(random, big.NewInt(int64(len(runes))))
		if err != nil {
			return nil, err
		}
		out = append(out, runes[j.Int64()])
	}
	return out, nil
}

// InputKeys are the inputs of RandomPassword and RandomString.
var InputKeys = []string{"keepers", "length", "lower", "minLower", "minNumeric", "minSpecial", "minUpper", "number",
	"numeric", "overrideSpecial", "special", "upper"}

// Changes compares checked old and new inputs: every input that changed, and those of them
// that replace the resource. As upstream, a change replaces except keepers that differ only by
// null values (Pulumi drops those, so an absent map equals an empty one) and overrideSpecial
// going from "" to unset; those are in-place updates of the state.
func Changes(olds, news Inputs) (changed, replaces []string) {
	for _, k := range InputKeys {
		o, n := olds[k], news[k]
		if k == "keepers" {
			o, n = nonNull(o), nonNull(n)
		}
		if reflect.DeepEqual(o, n) {
			continue
		}
		changed = append(changed, k)
		if k == "overrideSpecial" && o == "" && n == nil {
			continue
		}
		replaces = append(replaces, k)
	}
	sort.Strings(changed)
	sort.Strings(replaces)
	return changed, replaces
}

func nonNull(v any) map[string]any {
	out := map[string]any{}
	if m, ok := v.(map[string]any); ok {
		for k, x := range m {
			if x != nil {
				out[k] = x
			}
		}
	}
	return out
}
