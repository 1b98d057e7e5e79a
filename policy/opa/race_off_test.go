//go:build !race

package opa

const raceEnabled = false
