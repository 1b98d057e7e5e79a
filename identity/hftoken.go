package identity

import (
	"errors"
	"strings"
)

// HFTokenPrefix starts every Hugging Face Hub access token. The Hub's
// JavaScript client (@huggingface/hub) refuses an accessToken without it
// before sending anything, so the gateway's tokens travel as HFTokenPrefix
// followed by the JWT, and Verify accepts both forms.
//
// The prefix carries no authority: the JWT after it is verified exactly as
// it would be alone, and no JWT can itself start with "hf_" (its first
// segment is base64url JSON, which starts with "ey"), so the two forms never
// overlap.
const HFTokenPrefix = "hf_"

// HFToken returns jwt in the form Hugging Face clients accept.
func HFToken(jwt string) string { return HFTokenPrefix + jwt }

// errHubToken is the cause of a ReasonHubToken error.
var errHubToken = errors.New("an hf_ token whose rest is not a compact JWT")

// stripHFPrefix returns raw without HFTokenPrefix. It fails with
// ReasonHubToken when what follows the prefix cannot be a JWT (a
// huggingface.co token, sent because HF_TOKEN is set for the Hub).
func stripHFPrefix(raw string) (string, error) {
	rest, ok := strings.CutPrefix(raw, HFTokenPrefix)
	if !ok {
		return raw, nil
	}
	if strings.Count(rest, ".") != 2 {
		return "", newError(ReasonHubToken, errHubToken)
	}
	return rest, nil
}
