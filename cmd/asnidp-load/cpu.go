package main

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cpuMeter reads the CPU time used so far by the server processes (their
// process_cpu_seconds_total) and by this tool, which shares the machine:
// the split says how much of the machine the server had.
type cpuMeter struct {
	smp *sampler
}

type cpuReading struct {
	at                    time.Time
	server, tool, machine float64 // CPU seconds
}

func (m cpuMeter) read(ctx context.Context) cpuReading {
	r := cpuReading{at: time.Now(), tool: toolCPU(), machine: machineCPU()}
	for _, base := range m.smp.nodes {
		if g, err := m.smp.scrape(ctx, base); err == nil {
			r.server += g["process_cpu_seconds_total"]
		}
	}
	return r
}

// cpuUse is the CPU a phase cost, on average in cores and per completed
// sign-in.
type cpuUse struct {
	ServerCores      float64 `json:"server_cores"`
	ToolCores        float64 `json:"load_generator_cores"`
	ServerMsPerLogin float64 `json:"server_cpu_ms_per_sign_in"`
	ToolMsPerLogin   float64 `json:"load_generator_cpu_ms_per_sign_in"`
	// OtherCores is what the rest of the machine used meanwhile (the
	// PostgreSQL server, and anything else that shares it).
	OtherCores float64 `json:"other_cores"`
}

// between is the use from a to b for ok completed sign-ins. A node killed
// in between makes the server figure an undercount.
func between(a, b cpuReading, ok int) cpuUse {
	el := b.at.Sub(a.at).Seconds()
	u := cpuUse{ServerCores: (b.server - a.server) / el, ToolCores: (b.tool - a.tool) / el}
	if b.machine > a.machine {
		u.OtherCores = max(0, (b.machine-a.machine)/el-u.ServerCores-u.ToolCores)
	}
	if ok > 0 {
		u.ServerMsPerLogin = 1000 * (b.server - a.server) / float64(ok)
		u.ToolMsPerLogin = 1000 * (b.tool - a.tool) / float64(ok)
	}
	return u
}

// toolCPU is this process's user and system CPU seconds.
func toolCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// argonCPUShare is one hash's CPU time over the server's CPU time per
// sign-in, or 0 without a calibration.
func argonCPUShare(l *limits, u cpuUse) float64 {
	if l == nil || u.ServerMsPerLogin <= 0 {
		return 0
	}
	return l.Argon2idCPUMs / u.ServerMsPerLogin
}

// machineCPU is the busy CPU seconds of the whole machine (Linux
// /proc/stat: every state but idle and iowait), or 0 elsewhere.
func machineCPU() float64 {
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	f := strings.Fields(line)
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var busy float64
	for i, v := range f[1:9] { // guest time is already in user
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		n, _ := strconv.ParseFloat(v, 64)
		busy += n
	}
	return busy / 100 // USER_HZ
}
