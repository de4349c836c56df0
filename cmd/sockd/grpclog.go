package main

import (
	"fmt"
	"log/slog"
	"sync"

	"google.golang.org/grpc/grpclog"
)

// setGRPCLogger sends what grpc-go and grpc-gateway log (grpc-gateway's
// "Failed to flush response", say) through sockd's logger, in its format,
// instead of grpclog's default unstructured lines on stderr. Their info
// lines are sockd's debug lines. grpclog's logger is process-wide and may
// only be set before gRPC starts, hence once.
func setGRPCLogger(log *slog.Logger) {
	grpcLoggerOnce.Do(func() { grpclog.SetLoggerV2(&slogGRPCLogger{log: log.With("component", "grpc")}) })
}

var grpcLoggerOnce sync.Once

type slogGRPCLogger struct{ log *slog.Logger }

func (l *slogGRPCLogger) Info(args ...any)                 { l.log.Debug(fmt.Sprint(args...)) }
func (l *slogGRPCLogger) Infoln(args ...any)               { l.log.Debug(fmt.Sprint(args...)) }
func (l *slogGRPCLogger) Infof(format string, args ...any) { l.log.Debug(fmt.Sprintf(format, args...)) }
func (l *slogGRPCLogger) Warning(args ...any)              { l.log.Warn(fmt.Sprint(args...)) }
func (l *slogGRPCLogger) Warningln(args ...any)            { l.log.Warn(fmt.Sprint(args...)) }
func (l *slogGRPCLogger) Warningf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
func (l *slogGRPCLogger) Error(args ...any)   { l.log.Error(fmt.Sprint(args...)) }
func (l *slogGRPCLogger) Errorln(args ...any) { l.log.Error(fmt.Sprint(args...)) }
func (l *slogGRPCLogger) Errorf(format string, args ...any) {
	l.log.Error(fmt.Sprintf(format, args...))
}
func (l *slogGRPCLogger) Fatal(args ...any) {
	l.log.Error(fmt.Sprint(args...))
	panic(fmt.Sprint(args...))
}
func (l *slogGRPCLogger) Fatalln(args ...any) { l.Fatal(args...) }
func (l *slogGRPCLogger) Fatalf(format string, args ...any) {
	l.Fatal(fmt.Sprintf(format, args...))
}
func (l *slogGRPCLogger) V(level int) bool { return level <= 0 }
