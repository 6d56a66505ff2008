// Command ferretdb runs FerretDB v1 with its SQLite backend: a MongoDB wire-protocol server for the
// local stack and the tests, built from Go modules because Debian ships no mongod.
//
// scripts/stack.sh builds it into .bin/ferretdb and starts it with -listen-addr and -sqlite-dir.
package main

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listenAddr := flag.String("listen-addr", "127.0.0.1:27017", "TCP address to listen on")
	sqliteDir := flag.String("sqlite-dir", "data", "directory holding one SQLite file per database")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))

	// FerretDB wants a "file:" URI naming a directory, with a trailing slash.
	dir, err := filepath.Abs(*sqliteDir)
	if err != nil {
		logger.Error("bad -sqlite-dir", "error", err)
		os.Exit(1)
	}

	if err = os.MkdirAll(dir, 0o700); err != nil {
		logger.Error("cannot create -sqlite-dir", "error", err)
		os.Exit(1)
	}

	// The embedded package already disables telemetry (ferretdb.New locks it off), so the Config
	// has no telemetry switch and nothing here phones home.
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listenAddr},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + dir + "/",
	})
	if err != nil {
		logger.Error("cannot start FerretDB", "error", err)
		os.Exit(1)
	}

	// Stop on SIGTERM/SIGINT by cancelling the context, so Run closes the SQLite files cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	logger.Info("FerretDB listening", "addr", *listenAddr, "sqlite_dir", dir)

	if err = f.Run(ctx); err != nil {
		logger.Error("FerretDB stopped with an error", "error", err)
		os.Exit(1)
	}
}
