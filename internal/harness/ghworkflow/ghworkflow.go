// Package ghworkflow reads a GitHub Actions workflow as a test must: it
// parses the YAML and checks the shape GitHub requires of it (a trigger,
// jobs with runs-on and steps, each step a uses or a run, expressions
// closed), and gives the run steps, for a test to execute.
package ghworkflow

import (
	"fmt"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Step is one step of a job.
type Step struct {
	Name string            `yaml:"name"`
	Uses string            `yaml:"uses"`
	With map[string]any    `yaml:"with"`
	Run  string            `yaml:"run"`
	Env  map[string]string `yaml:"env"`
}

// Job is one job.
type Job struct {
	RunsOn any               `yaml:"runs-on"`
	Env    map[string]string `yaml:"env"`
	Steps  []Step            `yaml:"steps"`
}

// Workflow is a workflow file.
type Workflow struct {
	Name        string         `yaml:"name"`
	On          map[string]any `yaml:"on"`
	Concurrency any            `yaml:"concurrency"`
	Env         map[string]any `yaml:"env"`
	Jobs        map[string]Job `yaml:"jobs"`
}

// Read parses and checks the workflow at path.
func Read(path string) (*Workflow, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var w Workflow
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	dec.KnownFields(true)
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := w.check(string(b)); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &w, nil
}

func (w *Workflow) check(text string) error {
	if len(w.On) == 0 {
		return fmt.Errorf("no trigger (on:)")
	}
	for ev := range w.On {
		switch ev {
		case "push", "pull_request", "workflow_dispatch", "schedule", "release", "workflow_call":
		default:
			return fmt.Errorf("unknown event %q", ev)
		}
	}
	if len(w.Jobs) == 0 {
		return fmt.Errorf("no jobs")
	}
	for id, j := range w.Jobs {
		if j.RunsOn == nil {
			return fmt.Errorf("job %s has no runs-on", id)
		}
		if len(j.Steps) == 0 {
			return fmt.Errorf("job %s has no steps", id)
		}
		for i, s := range j.Steps {
			if (s.Uses == "") == (s.Run == "") {
				return fmt.Errorf("job %s step %d has %s", id, i+1, map[bool]string{true: "neither uses nor run", false: "both uses and run"}[s.Uses == ""])
			}
			if s.Uses != "" && !strings.Contains(s.Uses, "@") {
				return fmt.Errorf("job %s step %d uses %s without a ref", id, i+1, s.Uses)
			}
		}
	}
	if strings.Count(text, "${{") != strings.Count(text, "}}") {
		return fmt.Errorf("an expression ${{ … }} is not closed")
	}
	return nil
}

// Runs are the run steps of job, in order.
func (w *Workflow) Runs(job string) []Step {
	var out []Step
	for _, s := range w.Jobs[job].Steps {
		if s.Run != "" {
			out = append(out, s)
		}
	}
	return out
}
