package openlineage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/checks"
	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/etl/openlineage"
	"github.com/sluice-etl/sluice/sinks/sqlite"
	"github.com/sluice-etl/sluice/sources/csv"
)

// spec validates events against the vendored OpenLineage schemas (testdata/schemas).
type spec struct {
	c     *jsonschema.Compiler
	event *jsonschema.Schema
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	files, err := filepath.Glob("testdata/schemas/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		body, err := os.ReadFile(f)
		require.NoError(t, err)
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		require.NoError(t, err, f)
		id := doc.(map[string]any)["$id"].(string)
		require.NoError(t, c.AddResource(id, doc), f)
		if strings.HasSuffix(f, "OpenLineage-1-0-3.json") {
			// See testdata/schemas/README.md: 1-0-3 stands in for 1-0-1 and 1-0-2.
			for _, v := range []string{"1-0-1", "1-0-2"} {
				alias, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
				require.NoError(t, err)
				delete(alias.(map[string]any), "$id")
				require.NoError(t, c.AddResource("https://openlineage.io/spec/"+v+"/OpenLineage.json", alias))
			}
		}
	}
	event, err := c.Compile(openlineage.RunEventSchemaURL)
	require.NoError(t, err)
	return &spec{c: c, event: event}
}

// validate checks one event: the whole against RunEvent, and each facet against the
// schema its _schemaURL names, which must be one of the vendored ones.
func (s *spec) validate(line []byte) error {
	ev, err := jsonschema.UnmarshalJSON(bytes.NewReader(line))
	if err != nil {
		return err
	}
	if err := s.event.Validate(ev); err != nil {
		return err
	}
	m := ev.(map[string]any)
	var facetSets []any
	if run, ok := m["run"].(map[string]any); ok {
		facetSets = append(facetSets, run["facets"])
	}
	if job, ok := m["job"].(map[string]any); ok {
		facetSets = append(facetSets, job["facets"])
	}
	for _, side := range []string{"inputs", "outputs"} {
		ds, _ := m[side].([]any)
		for _, d := range ds {
			d := d.(map[string]any)
			facetSets = append(facetSets, d["facets"], d["inputFacets"], d["outputFacets"])
		}
	}
	for _, set := range facetSets {
		facets, _ := set.(map[string]any)
		for name, f := range facets {
			url, _ := f.(map[string]any)["_schemaURL"].(string)
			sch, err := s.c.Compile(url)
			if err != nil {
				return errors.Join(errors.New("facet "+name+": no vendored schema for "+url), err)
			}
			if err := sch.Validate(f); err != nil {
				return errors.Join(errors.New("facet "+name), err)
			}
		}
	}
	return nil
}

// Every event the emitter writes, with every facet it can carry, follows the published
// OpenLineage schemas.
func TestEventsFollowThePublishedSchema(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "name_gender.csv")
	require.NoError(t, os.WriteFile(path, []byte("name,gender\nAdaleigh,F\nAmryn,Unisex\n"), 0o600))
	src, err := csv.New(csv.Config{Path: path, Schema: etl.Schema{{Name: "name", NotNull: true}, {Name: "gender"}}})
	require.NoError(t, err)
	db, err := sqlite.Open(filepath.Join(dir, "wh.db"))
	require.NoError(t, err)
	defer db.Close()

	var buf bytes.Buffer
	em := openlineage.NewWriter(&buf, openlineage.Config{Namespace: "tests"})
	good := &etl.Pipeline{Name: "name_gender", Source: src, Observer: em,
		Meta: etl.Meta{Owner: "growth-team", Description: "first names"},
		Sink: &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "name_gender", Key: []string{"name"}, Create: true,
			Checks: []checks.Check{checks.UniqueKey("name"), checks.Warn(checks.SQL("no_x", "SELECT name FROM {{table}} WHERE gender = 'F'"))}}}}
	dagRun := etl.NewRunID()
	run := etl.NewRun("name_gender", etl.Window{})
	run.Parent = &etl.ParentRun{RunID: dagRun, Job: "nightly"}
	_, err = good.RunWith(context.Background(), run)
	require.NoError(t, err)
	bad := *good
	bad.Sink = &sqlite.FullRefresh{Target: sqlite.Target{DB: db, Table: "name_gender", Checks: []checks.Check{checks.RowCount{Min: 10}}}}
	_, err = bad.Run(context.Background(), etl.Window{})
	require.Error(t, err)

	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 4)
	for _, l := range lines {
		require.NoError(t, s.validate(l), "%s", l)
	}

	// The facets are there, with the right content.
	var complete, fail map[string]any
	require.NoError(t, json.Unmarshal(lines[1], &complete))
	require.NoError(t, json.Unmarshal(lines[3], &fail))
	parent := complete["run"].(map[string]any)["facets"].(map[string]any)["parent"].(map[string]any)
	require.Equal(t, dagRun, parent["run"].(map[string]any)["runId"])
	require.Equal(t, map[string]any{"namespace": "tests", "name": "nightly"}, parent["job"])
	out := complete["outputs"].([]any)[0].(map[string]any)
	require.Equal(t, "file", out["namespace"])
	require.Equal(t, float64(2), out["outputFacets"].(map[string]any)["outputStatistics"].(map[string]any)["rowCount"])
	require.Equal(t, []any{
		map[string]any{"assertion": "unique_key(name)", "success": true},
		map[string]any{"assertion": "sql(no_x)", "success": false},
	}, out["facets"].(map[string]any)["dataQualityAssertions"].(map[string]any)["assertions"])
	fields := out["facets"].(map[string]any)["schema"].(map[string]any)["fields"].([]any)
	require.Len(t, fields, 2, "the output's schema facet comes from the stream")
	in := complete["inputs"].([]any)[0].(map[string]any)
	require.Equal(t, "file", in["namespace"])
	require.Equal(t, filepath.ToSlash(path), in["name"])
	failOut := fail["outputs"].([]any)[0].(map[string]any)
	require.Nil(t, failOut["outputFacets"], "a failed run wrote nothing")
	require.Equal(t, false, failOut["facets"].(map[string]any)["dataQualityAssertions"].(map[string]any)["assertions"].([]any)[0].(map[string]any)["success"])
}

// The validator rejects what the spec rejects, so the test above can fail.
func TestSchemaValidationCatchesBadEvents(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	ok := `{"eventType":"START","eventTime":"2026-01-01T00:00:00Z","producer":"https://x","schemaURL":"https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent","run":{"runId":"1b4e28ba-2fa1-41d2-883f-0016d3cca427"},"job":{"namespace":"n","name":"j"}}`
	require.NoError(t, s.validate([]byte(ok)))
	for name, bad := range map[string]string{
		"no run id":     strings.Replace(ok, `"runId":"1b4e28ba-2fa1-41d2-883f-0016d3cca427"`, `"x":1`, 1),
		"bad time":      strings.Replace(ok, `2026-01-01T00:00:00Z`, `yesterday`, 1),
		"bad type":      strings.Replace(ok, `"START"`, `"BEGUN"`, 1),
		"parent no job": strings.Replace(ok, `"run":{`, `"run":{"facets":{"parent":{"_producer":"https://x","_schemaURL":"https://openlineage.io/spec/1-0-1/ParentRunFacet.json#/$defs/ParentRunFacet","run":{"runId":"1b4e28ba-2fa1-41d2-883f-0016d3cca427"}}},`, 1),
		"stats no rows": strings.Replace(ok, `"job":{`, `"outputs":[{"namespace":"file","name":"/x","outputFacets":{"outputStatistics":{"_producer":"https://x","_schemaURL":"https://openlineage.io/spec/1-0-1/OutputStatisticsOutputDatasetFacet.json#/$defs/OutputStatisticsOutputDatasetFacet"}}}],"job":{`, 1),
		"unknown facet": strings.Replace(ok, `"run":{`, `"run":{"facets":{"x":{"_producer":"https://x","_schemaURL":"https://example.com/X.json"}},`, 1),
	} {
		require.Error(t, s.validate([]byte(bad)), name)
	}
}

// A pipeline run as a DAG task names the DAG run as its parent.
func TestDAGTaskRunsNameTheirDAGRun(t *testing.T) {
	t.Parallel()
	s := loadSpec(t)
	var buf bytes.Buffer
	em := openlineage.NewWriter(&buf, openlineage.Config{Namespace: "tests"})
	p := &etl.Pipeline{Name: "load_names", Observer: em, Sink: okSink,
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(etl.Schema{{Name: "name"}}, []etl.Row{{"Ann"}}), nil
		})}
	d := dag.New("nightly", dag.Config{})
	d.Pipeline(p)
	rep, err := d.Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
	require.Len(t, lines, 2)
	for _, l := range lines {
		require.NoError(t, s.validate(l), "%s", l)
		var ev map[string]any
		require.NoError(t, json.Unmarshal(l, &ev))
		parent := ev["run"].(map[string]any)["facets"].(map[string]any)["parent"].(map[string]any)
		require.Equal(t, rep.RunID, parent["run"].(map[string]any)["runId"])
		require.Equal(t, "nightly", parent["job"].(map[string]any)["name"])
		require.NotEqual(t, rep.RunID, ev["run"].(map[string]any)["runId"], "the task's run is a run of its own")
	}
}
