package main

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/weightgate/weightgate/whatif"
)

const matrixSynopsis = `--config FILE --model ORG/NAME [--format table|csv|html] [--time RFC3339] [--file PATH]

Prints the policy decision for every ISO 3166-1 alpha-2 country (249) and four
requester profiles, each a person located in the country and a national of it:
  no_entity        acting for no entity
  tier1_hq_entity  for an entity headquartered, with its parent, in the US (Tier 1)
  local_entity     for an entity headquartered, with its parent, in the country
  uveu             for a US-headquartered Universal Validated End User (the
                   input's entity.veu is trusted, as a what-if)
Formats:
  table  aligned columns COUNTRY and one per profile, each cell the decision
         code; "#" lines name the model, regime and time, and count each code
  csv    header country,no_entity,tier1_hq_entity,local_entity,uveu, then
         no_entity_allow,tier1_hq_entity_allow,local_entity_allow,uveu_allow:
         each profile's decision code, then whether it allows (true|false)
  html   a self-contained colour-coded grid with a legend: green allows, amber
         needs a licence or other authorisation, red is an embargo, a country of
         concern or a restricted party, grey could not be decided
The output is deterministic for a given --time. Exit 0 when every cell was
decided (denials included), 2 on errors, among them a cell the policy could
not evaluate.`

func (m *Main) matrix(ctx context.Context, args []string) error {
	fs := m.newFlagSet("matrix", matrixSynopsis)
	configPath := fs.String("config", "", "configuration file")
	model := fs.String("model", "", "model id, ORG/NAME")
	format := fs.String("format", "table", "table, csv or html")
	at := fs.String("time", "", "decide as at this RFC 3339 time (default: now)")
	file := fs.String("file", "", "file of the model to decide for (default: its weights, as a file of kind \"weights\")")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *configPath == "" || *model == "" {
		fs.Usage()
		return errors.New("matrix: --config and --model are required")
	}
	if !slices.Contains([]string{"table", "csv", "html"}, *format) {
		return fmt.Errorf("matrix: --format must be table, csv or html, got %q", *format)
	}
	when, err := whatIfTime("matrix", *at)
	if err != nil {
		return err
	}
	c, _, err := m.whatIfComponents(ctx, *configPath)
	if err != nil {
		return err
	}
	defer c.Close()

	mx, err := c.whatIf(nil).Matrix(ctx, *model, *file, when)
	if err != nil {
		return err
	}
	switch *format {
	case "csv":
		err = mx.WriteCSV(m.Stdout)
	case "html":
		err = mx.WriteHTML(m.Stdout)
	default:
		err = mx.WriteTable(m.Stdout)
	}
	if err != nil {
		return fmt.Errorf("matrix: %w", err)
	}
	if mx.Errors > 0 {
		return fmt.Errorf("matrix: the policy could not be evaluated for %d of %d cells; first: %w",
			mx.Errors, len(mx.Rows)*len(whatif.Profiles), mx.FirstErr)
	}
	return nil
}
