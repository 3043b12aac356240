package kitconfig

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/upshift-dev/upshift/internal/harness/realworld"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name, file, text             string
		out, table, schema, url, env string
		computed                     string // the setting that is computed, and its expression
	}{
		{name: "defineConfig with literals", file: "drizzle.config.ts", text: `import { defineConfig } from "drizzle-kit";
export default defineConfig({
  dialect: "postgresql",
  out: "./db/migrations", // where generate writes
  migrations: { table: 'my_migrations', schema: "ops" },
  dbCredentials: { url: "postgres://app@db/app" },
});`, out: "./db/migrations", table: "my_migrations", schema: "ops", url: "postgres://app@db/app"},
		{name: "an object literal with satisfies", file: "drizzle.config.ts", text: `import type { Config } from 'drizzle-kit'
export default {
  out: './drizzle',
  dialect: 'postgresql',
  dbCredentials: { url: process.env.DATABASE_URL! },
} satisfies Config`, out: "./drizzle", env: "DATABASE_URL"},
		{name: "a const exported by name", file: "drizzle.config.mts", text: `const config: Config = defineConfig({ out: "m", dbCredentials: { url: process.env["PG_URL"] ?? "postgres://localhost/dev" } });
export default config;`, out: "m", env: "PG_URL", url: "postgres://localhost/dev"},
		{name: "CommonJS", file: "drizzle.config.cjs", text: `/** @type { import("drizzle-kit").Config } */
module.exports = { out: "./migrations", migrations: { prefix: "timestamp" } };`, out: "./migrations"},
		{name: "JSON", file: "drizzle.config.json", text: `{"out": "./drizzle", "migrations": {"table": "t"}}`, out: "./drizzle", table: "t"},
		{name: "a template without substitutions is a literal", file: "drizzle.config.ts", text: "export default { out: `./drizzle` }", out: "./drizzle"},
		{name: "a computed out", file: "drizzle.config.ts", text: "const p = relative(process.cwd(), 'x');\nexport default { out: p, schema: `${dir}/schema.ts` }", computed: "out=p"},
		{name: "a template with substitutions", file: "drizzle.config.ts", text: "export default { out: `${root}/drizzle` }", computed: "out=`${root}/drizzle`"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse(tc.file, tc.text)
			if err != nil {
				t.Fatal(err)
			}
			if c.Out.Literal != tc.out || c.Table.Literal != tc.table || c.Schema.Literal != tc.schema || c.URL.Literal != tc.url || c.URL.Env != tc.env {
				t.Errorf("out %+v table %+v schema %+v url %+v", c.Out, c.Table, c.Schema, c.URL)
			}
			if tc.computed != "" {
				key, expr, _ := strings.Cut(tc.computed, "=")
				if key != "out" || c.Out.Computed != expr || c.Out.HasLiteral {
					t.Errorf("computed out: %+v, want %s", c.Out, expr)
				}
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	for text, want := range map[string]string{
		`const x = 1;`:                    "no `export default`",
		`export default makeConfig(env);`: "computed",
		`export default { out: "x }`:      "a string is not closed",
		"export default {\n out: \"x\n}":  "a string runs past the end of its line",
		`export default { out: /* x`:      "comment is not closed",
	} {
		_, err := Parse("drizzle.config.ts", text)
		var ce *Error
		if !errors.As(err, &ce) || !strings.Contains(err.Error(), want) || !strings.HasPrefix(err.Error(), "drizzle.config.ts") {
			t.Errorf("%s: %v, want %q", text, err, want)
		}
	}
}

func TestResolve(t *testing.T) {
	cfg, err := Parse("drizzle.config.ts", `import { config } from "dotenv";
config({ path: ".env.local" });
export default defineConfig({ out: "./lib/db/migrations", migrations: { table: "migrations", schema: "public" }, dbCredentials: { url: process.env.POSTGRES_URL! } });`)
	if err != nil {
		t.Fatal(err)
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	s, err := Resolve(cfg, Given{NeedURL: true}, env(map[string]string{"POSTGRES_URL": "postgres://a@b/c"}))
	if err != nil {
		t.Fatal(err)
	}
	if s.Dir.Value != "./lib/db/migrations" || s.Table.Value != "migrations" || s.Schema.Value != "public" || s.URL.Value != "postgres://a@b/c" {
		t.Errorf("%+v", s)
	}
	if !strings.Contains(s.URL.From, "POSTGRES_URL") || !strings.Contains(s.Dir.From, "drizzle.config.ts:3 out") || s.Config != "drizzle.config.ts" {
		t.Errorf("sources: %+v", s)
	}
	// Flags and upshift's variables win.
	s, err = Resolve(cfg, Given{Dir: "other", Table: "t", URL: "postgres://x@y/z", NeedURL: true}, env(nil))
	if err != nil || s.Dir.Value != "other" || s.Table.Value != "t" || s.Schema.Value != "public" || s.URL.Value != "postgres://x@y/z" {
		t.Errorf("%+v %v", s, err)
	}
	// A variable that is not set is named, with dotenv's file.
	_, err = Resolve(cfg, Given{NeedURL: true}, env(nil))
	var re *ResolveError
	if !errors.As(err, &re) || !strings.Contains(re.Msg, "process.env.POSTGRES_URL") || !strings.Contains(re.Msg, ".env.local") || !strings.Contains(re.Hint, "--database-url") {
		t.Errorf("%v", err)
	}
	// ...unless the command does not connect.
	if s, err := Resolve(cfg, Given{}, env(nil)); err != nil || s.URL.Value != "" {
		t.Errorf("lint without a database: %+v %v", s, err)
	}
	// No file: drizzle's defaults.
	s, err = Resolve(nil, Given{}, env(nil))
	if err != nil || s.Dir.Value != DefaultDir || s.Table.Value != DefaultTable || s.Schema.Value != DefaultSchema || s.Summary() != "" {
		t.Errorf("%+v %v", s, err)
	}
	// Another dialect is refused.
	my, _ := Parse("drizzle.config.ts", `export default { dialect: "mysql", out: "./m" }`)
	if _, err := Resolve(my, Given{}, env(nil)); err == nil || !strings.Contains(err.Error(), `"mysql"`) {
		t.Errorf("mysql: %v", err)
	}
}

// The real projects' files: what each states, and what each computes.
func TestRealConfigs(t *testing.T) {
	dir := realworld.Path(t, "drizzle-config")
	for name, want := range map[string]struct{ out, table, schema, urlEnv, computed string }{
		"ai-chatbot": {out: "./lib/db/migrations", urlEnv: "POSTGRES_URL"},
		"dokploy":    {out: "drizzle", table: "migrations", schema: "public", computed: "url=dbUrl"},
		"lmnr":       {out: "./lib/db/migrations", computed: "credentials=dbCredentials"},
		"sim":        {urlEnv: "DATABASE_URL", computed: "out=migrationsPath"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(filepath.Join(dir, name+".drizzle.config.ts"))
			if err != nil {
				t.Fatal(err)
			}
			if c.Out.Literal != want.out || c.Table.Literal != want.table || c.Schema.Literal != want.schema || c.URL.Env != want.urlEnv || c.Dialect.Literal != "postgresql" {
				t.Errorf("out %+v table %+v schema %+v url %+v", c.Out, c.Table, c.Schema, c.URL)
			}
			switch want.computed {
			case "url=dbUrl":
				if c.URL.Computed != "dbUrl" {
					t.Errorf("url %+v", c.URL)
				}
			case "credentials=dbCredentials":
				if c.Credentials.Computed != "dbCredentials" || c.URL.Set {
					t.Errorf("credentials %+v", c.Credentials)
				}
			case "out=migrationsPath":
				if c.Out.Computed != "migrationsPath" {
					t.Errorf("out %+v", c.Out)
				}
			}
		})
	}
}

// FuzzParse: any text is read or refused with an *Error, never a panic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`export default defineConfig({ out: "./d", migrations: { table: "t" }, dbCredentials: { url: process.env.X! ?? "y" } })`,
		"export default { out: `${a}`, ...rest, [k]: 1, m() { return 1 } } as Config",
		`module.exports = { out: 'x' }`, `{"out": "x"}`, `export default`, `export default {`, "'", "/*",
	} {
		f.Add("drizzle.config.ts", s)
		f.Add("drizzle.config.json", s)
	}
	f.Fuzz(func(t *testing.T, name, text string) {
		c, err := Parse(name, text)
		if err != nil {
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("%T %v", err, err)
			}
			return
		}
		_, _ = Resolve(c, Given{NeedURL: true}, func(string) string { return "" })
	})
}
