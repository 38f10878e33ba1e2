package readme

import (
	"time"

	"github.com/sluice-etl/sluice/dag"
	"github.com/sluice-etl/sluice/dag/pgstore"
	"github.com/sluice-etl/sluice/dag/riverexec"
	"github.com/sluice-etl/sluice/etl"
)

// ScaleOut is the README's DAG on river workers: the same declaration, with a queue
// that `--executor river` selects. It never returns, so it is compiled but not run.
func ScaleOut(extract, largeOrders *etl.Pipeline) {
	// README: scaleout
	d := dag.New("orders", dag.Config{
		Every:     24 * time.Hour,
		OpenStore: pgstore.Open,
		Queues:    map[string]dag.OpenQueue{"river": riverexec.Open(riverexec.Config{})},
	})
	d.Pipeline(extract)
	d.Pipeline(largeOrders).After("extract")
	dag.Main(d)
	// README end
}
