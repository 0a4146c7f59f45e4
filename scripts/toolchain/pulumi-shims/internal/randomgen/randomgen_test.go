package randomgen

import (
	"crypto/rand"
	"reflect"
	"strings"
	"testing"
)

func failuresOf(t *testing.T, in Inputs) []Failure {
	t.Helper()
	_, _, failures := Check(in)
	return failures
}

func TestCheckRejectsWhatUpstreamRejectsAtPreview(t *testing.T) {
	cases := []struct {
		name     string
		in       Inputs
		property string
		reason   string
	}{
		{"length below the sum of the minimums", Inputs{"length": 5.0, "minUpper": 2.0, "minLower": 2.0, "minNumeric": 2.0},
			"length", "at least sum of minLower + minUpper + minNumeric + minSpecial (6), got: 5"},
		{"length zero", Inputs{"length": 0.0}, "length", "at least 1, got: 0"},
		{"length missing", Inputs{}, "length", "Missing required argument: length"},
		{"number and numeric disagree", Inputs{"length": 8.0, "number": true, "numeric": false},
			"numeric", "Number and numeric are both configured with different values"},
		{"every class off", Inputs{"length": 8.0, "numeric": false, "lower": false, "upper": false, "special": false},
			"numeric", "At least one attribute out of [special, upper, lower, numeric] must be specified as true"},
		{"every class off via number", Inputs{"length": 8.0, "number": false, "lower": false, "upper": false, "special": false},
			"numeric", "must be specified as true"},
		{"negative minimum", Inputs{"length": 8.0, "minSpecial": -1.0}, "minSpecial", "at least 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			failures := failuresOf(t, c.in)
			for _, f := range failures {
				if f.Property == c.property && strings.Contains(f.Reason, c.reason) {
					return
				}
			}
			t.Fatalf("want a failure on %s containing %q, got %+v", c.property, c.reason, failures)
		})
	}
}

func TestCheckAcceptsWhatUpstreamAccepts(t *testing.T) {
	for _, in := range []Inputs{
		{"length": 32.0, "special": false},                                   // the program's passwords
		{"length": 6.0, "minUpper": 2.0, "minLower": 2.0, "minNumeric": 2.0}, // length equal to the sum
		{"length": 8.0, "lower": false, "upper": false, "special": false},    // numeric unset: digits
		{"length": 8.0, "number": true, "numeric": true},
	} {
		if failures := failuresOf(t, in); len(failures) != 0 {
			t.Errorf("%v: unexpected failures %+v", in, failures)
		}
	}
}

func TestCheckDefaultsLikeUpstream(t *testing.T) {
	out, spec, _ := Check(Inputs{"length": 10.0, "number": false})
	want := Inputs{"length": 10.0, "number": false, "numeric": false, "lower": true, "upper": true, "special": true,
		"minLower": 0.0, "minUpper": 0.0, "minNumeric": 0.0, "minSpecial": 0.0}
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("defaults: got %v, want %v", out, want)
	}
	if spec.Numeric || !spec.Lower || spec.Length != 10 {
		t.Fatalf("spec: %+v", spec)
	}
	out, _, _ = Check(Inputs{"length": 10.0, "numeric": false})
	if out["number"] != false {
		t.Fatalf("number must follow numeric: %v", out)
	}
}

func generate(t *testing.T, in Inputs) string {
	t.Helper()
	_, spec, failures := Check(in)
	if len(failures) != 0 {
		t.Fatalf("%v: %+v", in, failures)
	}
	s, err := Generate(spec, rand.Reader)
	if err != nil {
		t.Fatalf("%v: %v", in, err)
	}
	return s
}

func count(s, set string) int {
	n := 0
	for _, r := range s {
		if strings.ContainsRune(set, r) {
			n++
		}
	}
	return n
}

func TestEmptyOverrideSpecialMeansTheDefaultSpecialCharacters(t *testing.T) {
	for i := 0; i < 50; i++ {
		s := generate(t, Inputs{"length": 16.0, "overrideSpecial": "", "lower": false, "upper": false, "numeric": false})
		if len(s) != 16 || count(s, DefaultSpecial) != 16 {
			t.Fatalf("want 16 default special characters, got %q", s)
		}
	}
}

func TestMinimumsApplyEvenToDisabledClasses(t *testing.T) {
	for i := 0; i < 50; i++ {
		s := generate(t, Inputs{"length": 12.0, "upper": false, "minUpper": 3.0, "special": false, "minSpecial": 2.0,
			"overrideSpecial": "#"})
		if got := count(s, UpperChars); got != 3 {
			t.Fatalf("upper off with minUpper 3: want exactly 3 upper-case characters (upstream), got %d in %q", got, s)
		}
		if got := count(s, "#"); got != 2 {
			t.Fatalf("special off with minSpecial 2: want exactly 2 '#', got %d in %q", got, s)
		}
	}
}

func TestGeneratedStringsHaveTheLengthMinimumsAndOnlyEnabledCharacters(t *testing.T) {
	for i := 0; i < 200; i++ {
		s := generate(t, Inputs{"length": 20.0, "minNumeric": 4.0, "minLower": 3.0, "overrideSpecial": "_-", "minSpecial": 2.0})
		if len([]rune(s)) != 20 || count(s, NumericChars) < 4 || count(s, LowerChars) < 3 || count(s, "_-") < 2 {
			t.Fatalf("minimums not met: %q", s)
		}
		if count(s, UpperChars+LowerChars+NumericChars+"_-") != 20 {
			t.Fatalf("characters outside the enabled classes: %q", s)
		}
	}
	s := generate(t, Inputs{"length": 64.0, "special": false})
	if count(s, DefaultSpecial) != 0 {
		t.Fatalf("special off: %q", s)
	}
}

func TestMultibyteOverrideSpecialCountsCharactersNotBytes(t *testing.T) {
	s := generate(t, Inputs{"length": 8.0, "overrideSpecial": "é", "lower": false, "upper": false, "numeric": false})
	if s != strings.Repeat("é", 8) {
		t.Fatalf("got %q", s)
	}
}

func TestChangesReplaceLikeUpstream(t *testing.T) {
	base := func() Inputs {
		out, _, _ := Check(Inputs{"length": 16.0, "keepers": map[string]any{"a": "1"}, "overrideSpecial": ""})
		return out
	}
	cases := []struct {
		name              string
		edit              func(Inputs)
		changed, replaces []string
	}{
		{"nothing", func(Inputs) {}, nil, nil},
		{"length", func(n Inputs) { n["length"] = 17.0 }, []string{"length"}, []string{"length"}},
		{"keeper value", func(n Inputs) { n["keepers"] = map[string]any{"a": "2"} }, []string{"keepers"}, []string{"keepers"}},
		{"keeper with a null value added", func(n Inputs) { n["keepers"] = map[string]any{"a": "1", "b": nil} }, nil, nil},
		{"overrideSpecial empty to unset", func(n Inputs) { delete(n, "overrideSpecial") }, []string{"overrideSpecial"}, nil},
		{"overrideSpecial set", func(n Inputs) { n["overrideSpecial"] = "!" }, []string{"overrideSpecial"}, []string{"overrideSpecial"}},
		{"number to numeric, same value", func(n Inputs) {
			n2, _, _ := Check(Inputs{"length": 16.0, "keepers": map[string]any{"a": "1"}, "overrideSpecial": "", "numeric": true})
			for k, v := range n2 {
				n[k] = v
			}
		}, nil, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			news := base()
			c.edit(news)
			changed, replaces := Changes(base(), news)
			if !reflect.DeepEqual(changed, c.changed) || !reflect.DeepEqual(replaces, c.replaces) {
				t.Fatalf("changed %v replaces %v, want %v and %v", changed, replaces, c.changed, c.replaces)
			}
		})
	}
}
