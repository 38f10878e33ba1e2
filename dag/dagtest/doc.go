// Package dagtest holds test helpers for package dag, in the manner of net/http/httptest.
//
// # Store conformance
//
// [ExerciseStore] is a suite that every [dag.Store] must pass, as riverdrivertest.Exercise
// is for river's drivers: saving and loading run records, the queries behind `history`,
// the per-DAG lock, a resumed backfill ([BackfillResumes]), and the optional
// [dag.Pruner] and [dag.Watermarker] when the store implements them. Call it from the
// store's own tests with a function that opens an empty store:
//
//	func TestConformance(t *testing.T) {
//		dagtest.ExerciseStore(t, func(t *testing.T) dag.Store { return mystore.New(...) })
//	}
package dagtest
