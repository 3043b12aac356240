package upgrade

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/upshift-dev/upshift/compose"
)

// SwarmStore keeps a stack's memory in the swarm, as configs that every
// manager holds and any machine reaching a manager reads:
//
//	upshift-lock-<stack>          the deploy lock: its holder and lease in
//	                              its labels, renewed by relabelling it
//	upshift-run-<stack>-<seq>     the journal of the run under way, one
//	                              config a save (configs cannot change)
//	upshift-history-<stack>-<id>  one finished run each
//
// labelled io.upshift.stack=<stack>, so that `docker config ls --filter
// label=io.upshift.stack=shop` lists them.
type SwarmStore struct {
	Swarm compose.SwarmConfigs
	Stack string
	// Cluster is the swarm's id, which every record names.
	Cluster string
	// Cache is this machine's copy of the journal of its own run.
	Cache *State
	skew  time.Duration
	seq   int
}

var _ Store = (*SwarmStore)(nil)

const (
	labelStack   = "io.upshift.stack"
	labelKind    = "io.upshift.kind"
	labelSeq     = "io.upshift.seq"
	labelRenewed = "io.upshift.renewed"
)

// configName is a config's name, within the swarm's 64 characters: a
// long stack name is shortened to a hash of it.
func configName(kind, stack, suffix string) string {
	n := "upshift-" + kind + "-" + stack
	if suffix != "" {
		n += "-" + suffix
	}
	if len(n) > 64 {
		h := sha256.Sum256([]byte(stack))
		n = "upshift-" + kind + "-" + hex.EncodeToString(h[:6])
		if suffix != "" {
			n += "-" + suffix
		}
	}
	return n
}

func (s *SwarmStore) lockName() string { return configName("lock", s.Stack, "") }

// Where names the swarm.
func (s *SwarmStore) Where() string {
	return fmt.Sprintf("the swarm %s (configs labelled %s=%s)", compose.ShortID(s.Cluster), labelStack, s.Stack)
}

func (s *SwarmStore) Skew() time.Duration { return s.skew }

func (s *SwarmStore) Check(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	if _, err := s.Swarm.Configs(ctx, labelStack, s.Stack); err != nil {
		return &StateError{Dir: s.Where(), Err: err}
	}
	return nil
}

func (s *SwarmStore) lockLabels(me *Lease) map[string]string {
	h, _ := json.Marshal(me.Holder)
	return map[string]string{labelStack: s.Stack, labelKind: "lock", labelHolder: string(h), labelRun: me.Holder.RunID,
		labelTTL: me.TTL.String(), labelRenewed: me.Renewed.UTC().Format(time.RFC3339Nano)}
}

func (s *SwarmStore) TryLock(ctx context.Context, me *Lease) (*Lease, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	data := []byte("held by upshift; `docker config inspect " + s.lockName() + "` says who\n")
	id, err := s.Swarm.CreateConfig(ctx, s.lockName(), s.lockLabels(me), data)
	if err == nil {
		me.Token = id
		return nil, nil
	}
	if !errors.Is(err, compose.ErrLockHeld) {
		return nil, err
	}
	held, err := s.Held(ctx)
	if err != nil {
		return nil, err
	}
	if held == nil {
		return s.TryLock(ctx, me) // released meanwhile
	}
	return held, ErrLockHeld
}

func (s *SwarmStore) Held(ctx context.Context) (*Lease, error) {
	c, err := s.Swarm.Config(ctx, s.lockName())
	if errors.Is(err, compose.ErrConfigGone) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return leaseOf(c.ID, c.Labels, c.Created, []byte(c.Labels[labelRenewed])), nil
}

func (s *SwarmStore) Renew(ctx context.Context, me *Lease) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	c, err := s.Swarm.Config(ctx, me.Token)
	if errors.Is(err, compose.ErrConfigGone) {
		return ErrLockLost
	}
	if err != nil {
		return err
	}
	err = s.Swarm.RelabelConfig(ctx, c, s.lockLabels(me))
	if errors.Is(err, compose.ErrConfigGone) {
		return ErrLockLost
	}
	return err
}

func (s *SwarmStore) Release(ctx context.Context, me *Lease) error {
	if me.Token == "" {
		return nil
	}
	return s.Swarm.RemoveConfig(ctx, me.Token)
}

func (s *SwarmStore) Break(ctx context.Context, held *Lease) error {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	return s.Swarm.RemoveConfig(ctx, held.Token)
}

// journal lists the journal's configs.
func (s *SwarmStore) journal(ctx context.Context) ([]compose.SwarmConfig, error) {
	all, err := s.Swarm.Configs(ctx, labelStack, s.Stack)
	if err != nil {
		return nil, err
	}
	var out []compose.SwarmConfig
	for _, c := range all {
		if c.Labels[labelKind] == "journal" {
			out = append(out, c)
		}
	}
	return out, nil
}

// SaveRun writes the journal as a new config, then removes the older
// ones: a reader takes the highest sequence, so a save that dies half way
// leaves the previous journal or the new one, never neither.
func (s *SwarmStore) SaveRun(ctx context.Context, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	old, err := s.journal(ctx)
	if err != nil {
		return err
	}
	for _, c := range old {
		if n, _ := strconv.Atoi(c.Labels[labelSeq]); n > s.seq {
			s.seq = n
		}
	}
	s.seq++
	labels := map[string]string{labelStack: s.Stack, labelKind: "journal", labelRun: r.ID, labelSeq: strconv.Itoa(s.seq)}
	if _, err := s.Swarm.CreateConfig(ctx, configName("run", s.Stack, strconv.Itoa(s.seq)), labels, b); err != nil {
		return err
	}
	for _, c := range old {
		_ = s.Swarm.RemoveConfig(ctx, c.ID)
	}
	if s.Cache != nil {
		_ = s.Cache.SaveRun(ctx, r)
	}
	return nil
}

func (s *SwarmStore) Unfinished(ctx context.Context) (*Record, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	js, err := s.journal(ctx)
	if err != nil {
		return nil, err
	}
	var newest *compose.SwarmConfig
	for i, c := range js {
		n, _ := strconv.Atoi(c.Labels[labelSeq])
		if newest == nil || n > mustAtoi(newest.Labels[labelSeq]) {
			newest = &js[i]
		}
	}
	if newest == nil {
		if s.Cache != nil {
			_ = os.Remove(s.Cache.runPath())
		}
		return nil, nil
	}
	var r Record
	if err := json.Unmarshal(newest.Data, &r); err != nil {
		return nil, fmt.Errorf("the journal %s in %s is damaged (%v): it describes a run that did not finish; read it with `docker config inspect --pretty %s`, and remove it to continue", newest.Name, s.Where(), err, newest.Name)
	}
	return &r, nil
}

func mustAtoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// Finish writes the run's history config, then removes the journal.
func (s *SwarmStore) Finish(ctx context.Context, r *Record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	labels := map[string]string{labelStack: s.Stack, labelKind: "history", labelRun: r.ID}
	if _, err := s.Swarm.CreateConfig(ctx, configName("history", s.Stack, r.ID), labels, b); err != nil && !errors.Is(err, compose.ErrLockHeld) {
		return fmt.Errorf("history: %w", err)
	}
	js, err := s.journal(ctx)
	if err != nil {
		return err
	}
	for _, c := range js {
		if c.Labels[labelRun] == r.ID {
			_ = s.Swarm.RemoveConfig(ctx, c.ID)
		}
	}
	if s.Cache != nil {
		_ = os.Remove(s.Cache.runPath())
	}
	return nil
}

func (s *SwarmStore) History(ctx context.Context) ([]*Record, error) {
	ctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()
	all, err := s.Swarm.Configs(ctx, labelStack, s.Stack)
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	for _, c := range all {
		if c.Labels[labelKind] == "history" {
			files[c.Name] = c.Data
		}
	}
	return sortedRecords(files), nil
}

// openStore opens this machine's folder for the stack and the store: the
// swarm's configs, or the folder itself with --state local.
func (x *Stack) openStore(ctx context.Context, o Options, configs compose.SwarmConfigs) error {
	local, done, err := x.Runner.openLocal(o, StackState(x.Name))
	if done || err != nil {
		return err
	}
	info, err := x.manager(ctx)
	if err != nil {
		return err
	}
	ss := &SwarmStore{Swarm: configs, Stack: x.Name, Cluster: info.ClusterID, Cache: local}
	if !info.Time.IsZero() {
		ss.skew = time.Until(info.Time)
	}
	x.Store, x.EngineID = ss, info.ClusterID
	return nil
}
