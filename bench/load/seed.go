package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quantumlock/quantumlock"
	"github.com/quantumlock/quantumlock/entropy"
	"github.com/quantumlock/quantumlock/license"
	"github.com/quantumlock/quantumlock/masterkey"
	"github.com/quantumlock/quantumlock/sqlite"
)

// endCustomers is how many distinct end customers the seeded licenses are
// spread over; license i belongs to endCustomer(i).
const endCustomers = 1000

func endCustomer(i int) string { return "ec-" + strconv.Itoa(i%endCustomers) }

// seedResult describes a seeding run.
type seedResult struct {
	Keys    []string // Keys[i] belongs to endCustomer(i)
	Elapsed time.Duration
}

// seed issues n licenses for customerID straight into the database file,
// through the real license.Service on the sqlite store, signed under the
// same master key the server gets, so they validate. It runs workers
// goroutines: signing and entropy overlap while the store's single writer
// connection serialises the transactions.
func seed(ctx context.Context, dbPath string, mk *masterkey.Key, customerID string, n, workers int, progress io.Writer) (seedResult, error) {
	db, err := sqlite.Open(ctx, dbPath)
	if err != nil {
		return seedResult{}, err
	}
	defer db.Close()
	if err := db.BindMasterKey(ctx, mk.Fingerprint()); err != nil {
		return seedResult{}, fmt.Errorf("bind master key: %w", err)
	}
	c, err := db.Customer(ctx, customerID)
	if err != nil {
		return seedResult{}, err
	}
	// The same derivation as the server's, so the licenses validate there.
	svc := &license.Service{
		Store: db, Rand: entropy.System{}, Now: quantumlock.SystemClock,
		Secret: license.Secrets(mk),
	}

	res := seedResult{Keys: make([]string, n)}
	var (
		next    atomic.Int64
		done    atomic.Int64
		wg      sync.WaitGroup
		errOnce sync.Once
		firstEr error
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-t.C:
				d := done.Load()
				fmt.Fprintf(progress, "  seeded %d/%d (%.0f/s)\n", d, n, float64(d)/time.Since(start).Seconds())
			}
		}
	}()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				l, _, err := svc.Generate(ctx, c, license.Params{EndCustomerID: endCustomer(i), Features: []string{"pro"}})
				if err != nil {
					errOnce.Do(func() { firstEr = fmt.Errorf("seed license %d: %w", i, err); cancel() })
					return
				}
				res.Keys[i] = l.Key
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stopProgress)
	<-progressDone
	res.Elapsed = time.Since(start)
	if firstEr != nil {
		return res, firstEr
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}
