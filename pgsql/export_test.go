package pgsql

// SetEachWindow makes Each slide a window of n bytes, and parse in
// parallel from parallel bytes, so that tests reach the cuts and the
// pipeline a large input has with small inputs.
func SetEachWindow(n int, parallel ...int) (restore func()) {
	oldW, oldP, oldB := eachWindow, parallelFrom, wholeBelow
	eachWindow, wholeBelow = n, 0
	if len(parallel) > 0 {
		parallelFrom = parallel[0]
	}
	return func() { eachWindow, parallelFrom, wholeBelow = oldW, oldP, oldB }
}

// Scan is the backend's token scan, for its benchmark.
var Scan = scan
