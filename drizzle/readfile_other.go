//go:build !unix

package drizzle

// Elsewhere every file goes through os.Root.
type plainDir struct{}

func openPlainDir(string) *plainDir { return &plainDir{} }
func (*plainDir) Close()            {}

func readPlain(*plainDir, string) ([]byte, bool, error) { return nil, false, nil }
