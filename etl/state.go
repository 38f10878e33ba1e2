package etl

// Incremental state travels between a sink and a source through the Run, so that neither
// imports the other and the watermark is read under the sink's lock:
//
//  1. A sink that keeps state takes its lock, begins its transaction, reads the stored
//     watermark and calls [Run.SetWatermark] before it starts reading the stream.
//  2. An incremental source reads [Run.Watermark] when its stream starts (streams are lazy,
//     so this happens inside the sink's Load), and calls [Run.Advance] with the highest
//     cursor value it yielded.
//  3. The sink stores [Run.NextWatermark] in the same transaction as the rows.
//
// Watermark values are int64, time.Time, string or Decimal.

// Watermark returns the stored watermark the sink found, and whether there was one.
func (r *Run) Watermark() (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.watermark, r.haveWatermark
}

// SetWatermark records the stored watermark. Sinks call it; a nil v means none is stored.
func (r *Run) SetWatermark(v any) {
	r.mu.Lock()
	r.watermark, r.haveWatermark = v, v != nil
	r.next, r.haveNext = v, v != nil
	r.mu.Unlock()
}

// Advance records v as the new watermark to store with this run's rows. Sources call it
// with the highest cursor value they yielded; the last call wins.
func (r *Run) Advance(v any) {
	r.mu.Lock()
	r.next, r.haveNext = v, v != nil
	r.mu.Unlock()
}

// NextWatermark returns the watermark to store when the run commits: the value last given
// to [Run.Advance], or the stored one when the source advanced nothing.
func (r *Run) NextWatermark() (any, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.next, r.haveNext
}
