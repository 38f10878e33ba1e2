package openlineage_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/sluice-etl/sluice/etl"
	"github.com/sluice-etl/sluice/etl/openlineage"
)

var uuidRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func pipeline(sink etl.Loader, obs etl.Observer) *etl.Pipeline {
	schema := etl.Schema{{Name: "name", Type: etl.TypeText}, {Name: "gender", Type: etl.TypeText}}
	return &etl.Pipeline{
		Name: "name_gender",
		Meta: etl.Meta{
			Owner:       "growth-team",
			Description: "first names and their gender",
			Inputs:      []etl.Dataset{{Namespace: "s3://seed", Name: "name_gender.csv", Schema: schema}},
			Outputs:     []etl.Dataset{{Namespace: "postgres://db:5432", Name: "test.public.name_gender"}},
		},
		Source: etl.ExtractFunc(func(context.Context, *etl.Run) (etl.Stream, error) {
			return etl.SliceStream(schema, []etl.Row{{"Adaleigh", "F"}}), nil
		}),
		Sink:     sink,
		Observer: obs,
	}
}

var okSink = etl.LoadFunc(func(ctx context.Context, run *etl.Run, in etl.Stream) (etl.LoadResult, error) {
	n := int64(0)
	for _, err := range in.Rows {
		if err != nil {
			return etl.LoadResult{}, err
		}
		n++
	}
	return etl.LoadResult{RowsWritten: n}, nil
})

// decode reads JSON lines into generic maps, so the test checks the wire format field by
// field rather than round-tripping through the package's own types.
func decode(t *testing.T, data []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(data), []byte("\n")) {
		var m map[string]any
		require.NoError(t, json.Unmarshal(line, &m), "line %s", line)
		out = append(out, m)
	}
	return out
}

func requireSpecFields(t *testing.T, ev map[string]any, eventType, runID string) {
	t.Helper()
	require.Equal(t, eventType, ev["eventType"])
	require.Equal(t, openlineage.Producer, ev["producer"])
	require.Equal(t, "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent", ev["schemaURL"])
	_, err := time.Parse(time.RFC3339Nano, ev["eventTime"].(string))
	require.NoError(t, err, "eventTime must be ISO 8601")
	run := ev["run"].(map[string]any)
	require.Equal(t, runID, run["runId"])
	require.Regexp(t, uuidRE, run["runId"], "runId must be a UUID")
	job := ev["job"].(map[string]any)
	require.Equal(t, "sluice", job["namespace"])
	require.Equal(t, "name_gender", job["name"])
	in := ev["inputs"].([]any)
	require.Len(t, in, 1)
	require.Equal(t, "s3://seed", in[0].(map[string]any)["namespace"])
	require.Equal(t, "name_gender.csv", in[0].(map[string]any)["name"])
	schema := in[0].(map[string]any)["facets"].(map[string]any)["schema"].(map[string]any)
	require.Equal(t, openlineage.Producer, schema["_producer"])
	require.Contains(t, schema["_schemaURL"], "SchemaDatasetFacet.json")
	require.Equal(t, []any{map[string]any{"name": "name", "type": "text"}, map[string]any{"name": "gender", "type": "text"}}, schema["fields"])
	out := ev["outputs"].([]any)
	require.Len(t, out, 1)
	require.Equal(t, "postgres://db:5432", out[0].(map[string]any)["namespace"])
	require.Equal(t, "test.public.name_gender", out[0].(map[string]any)["name"])
}

func TestWriterEmitsStartAndComplete(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	em := openlineage.NewWriter(&buf, openlineage.Config{})
	res, err := pipeline(okSink, em).Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	evs := decode(t, buf.Bytes())
	require.Len(t, evs, 2)
	requireSpecFields(t, evs[0], "START", res.RunID)
	requireSpecFields(t, evs[1], "COMPLETE", res.RunID)
	facets := evs[1]["job"].(map[string]any)["facets"].(map[string]any)
	require.Equal(t, "first names and their gender", facets["documentation"].(map[string]any)["description"])
	require.Equal(t, "growth-team", facets["ownership"].(map[string]any)["owners"].([]any)[0].(map[string]any)["name"])
}

func TestFailCarriesTheErrorMessage(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	em := openlineage.NewWriter(&buf, openlineage.Config{})
	bad := etl.LoadFunc(func(context.Context, *etl.Run, etl.Stream) (etl.LoadResult, error) {
		return etl.LoadResult{}, &etl.StepError{Step: "check", Err: errors.New("check unique_key(name) failed")}
	})
	res, err := pipeline(bad, em).Run(context.Background(), etl.Window{})
	require.Error(t, err)
	evs := decode(t, buf.Bytes())
	require.Len(t, evs, 2)
	requireSpecFields(t, evs[1], "FAIL", res.RunID)
	facet := evs[1]["run"].(map[string]any)["facets"].(map[string]any)["errorMessage"].(map[string]any)
	require.Contains(t, facet["message"], "check unique_key(name) failed")
	require.Equal(t, "go", facet["programmingLanguage"])
	require.Contains(t, facet["_schemaURL"], "ErrorMessageRunFacet.json")
}

func TestHTTPEndpointReceivesEvents(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var got []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/api/v1/lineage", r.URL.Path)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		assert.NoError(t, json.Unmarshal(body, &m))
		mu.Lock()
		got = append(got, m)
		mu.Unlock()
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	em := openlineage.NewHTTP(srv.URL+"/api/v1/lineage", openlineage.Config{})
	res, err := pipeline(okSink, em).Run(context.Background(), etl.Window{})
	require.NoError(t, err)
	require.NoError(t, em.Close(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, got, 2)
	requireSpecFields(t, got[0], "START", res.RunID)
	requireSpecFields(t, got[1], "COMPLETE", res.RunID)
}

func TestUnreachableServerNeverFailsTheLoad(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	var logs strings.Builder
	var mu sync.Mutex
	em := openlineage.NewHTTP(url, openlineage.Config{Logger: newLogger(&logs, &mu)})
	_, err := pipeline(okSink, em).Run(context.Background(), etl.Window{})
	require.NoError(t, err, "lineage delivery must not fail the load")
	require.NoError(t, em.Close(context.Background()))
	mu.Lock()
	defer mu.Unlock()
	require.Contains(t, logs.String(), "event not delivered")
}
