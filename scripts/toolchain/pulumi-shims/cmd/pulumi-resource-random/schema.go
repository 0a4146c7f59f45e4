package main

import "sort"

// The package schema of the resources this stand-in implements: the same tokens, property
// names and types as pulumi-random 4.21.4's schema for them (descriptions left out). Nothing
// else is listed, so a client asking for another random resource learns it is not here.

type prop = map[string]any

var (
	str     = prop{"type": "string"}
	integer = prop{"type": "integer"}
	boolean = prop{"type": "boolean"}
	secret  = prop{"type": "string", "secret": true}
	keepers = prop{"type": "object", "additionalProperties": prop{"$ref": "pulumi.json#/Any"}}
)

func stringInputs() prop {
	return prop{
		"keepers": keepers, "length": integer, "lower": boolean, "upper": boolean, "special": boolean,
		"number":  prop{"type": "boolean", "deprecationMessage": "**NOTE**: This is deprecated, use `numeric` instead."},
		"numeric": boolean, "minLower": integer, "minUpper": integer, "minNumeric": integer, "minSpecial": integer,
		"overrideSpecial": str,
	}
}

func withOutputs(inputs prop, outputs prop) prop {
	all := prop{}
	for k, v := range inputs {
		all[k] = v
	}
	for k, v := range outputs {
		all[k] = v
	}
	return all
}

func keys(m prop) []string {
	out := []string{}
	for k := range m {
		if k != "keepers" && k != "overrideSpecial" && k != "prefix" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

func resourceSchema(inputs, outputs prop, required []string) prop {
	props := withOutputs(inputs, outputs)
	return prop{"inputProperties": inputs, "requiredInputs": required, "properties": props, "required": keys(props)}
}

func schema(version string) prop {
	password := resourceSchema(stringInputs(), prop{"result": secret, "bcryptHash": secret}, []string{"length"})
	idInputs := prop{"byteLength": integer, "keepers": keepers, "prefix": str}
	return prop{
		"name":    "random",
		"version": version,
		"resources": prop{
			tPassword: password,
			tString:   resourceSchema(stringInputs(), prop{"result": str}, []string{"length"}),
			tID:       resourceSchema(idInputs, prop{"b64Std": str, "b64Url": str, "dec": str, "hex": str}, []string{"byteLength"}),
		},
	}
}
