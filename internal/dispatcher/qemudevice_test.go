package dispatcher

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/basalt-lab/basalt/internal/devicedict"
	"github.com/basalt-lab/basalt/internal/dispatcher/qemu"
	"github.com/basalt-lab/basalt/internal/jinja"
	"github.com/basalt-lab/basalt/internal/workerproto"
)

// A qemu device runs the command its rendered configuration gives: the
// server's rendering (here with a lab's own qemu template) or, when an
// older server sent none, Basalt's template rendered by the worker with
// the job's context.
func TestOpenQEMUFromRenderedConfig(t *testing.T) {
	labTemplate := jinja.DirLoader("../devicedict/testdata/lab-templates") // a lab's own qemu.jinja2
	const dict = "{% extends 'qemu.jinja2' %}\n{% set memory = memory | default(384) %}\n{% set extra_kernel_args = 'quiet' %}\n"
	rendered, err := (&devicedict.Renderer{Templates: labTemplate}).Render(dict, "q1", "qemu", map[string]any{"memory": 1024})
	if err != nil {
		t.Fatal(err)
	}
	nolog := func(workerproto.Level, string, ...any) {}
	tests := []struct {
		name   string
		device workerproto.Device
		ctx    map[string]any
		want   [][]string // each in order in the command line
		absent []string
	}{
		{"the server's rendering with a lab's template", workerproto.Device{Hostname: "q1", DeviceType: "qemu", Dictionary: dict, Config: rendered},
			map[string]any{"memory": 1024}, [][]string{{"-m", "1024", "-device", "virtio-rng-pci"}}, []string{"-nographic", "-enable-kvm"}},
		{"rendered by the worker (older server)", workerproto.Device{Hostname: "q1", DeviceType: "qemu", Dictionary: dict},
			map[string]any{"memory": 2048, "arch": "i386"}, [][]string{{"qemu-system-i386"}, {"-cpu", "core2duo", "-machine", "pc"}, {"-m", "2048", "-monitor", "none"}}, []string{"-nographic", "-enable-kvm", "host"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dev, cfg, err := OpenDevice(context.Background(), tt.device, tt.ctx, nolog)
			if err != nil {
				t.Fatal(err)
			}
			defer dev.Close()
			qd, ok := dev.(*qemu.Device)
			if !ok {
				t.Fatalf("device kind %s", dev.Kind())
			}
			line := qd.CommandLine(false)
			for _, w := range tt.want {
				if indexSeq(line, w) < 0 {
					t.Errorf("command line %q lacks %q", line, w)
				}
			}
			for _, a := range tt.absent {
				if slices.Contains(line, a) {
					t.Errorf("command line %q has %q", line, a)
				}
			}
			if cfg.ExtraKernelArgs != "quiet" || cfg.Rendered == nil {
				t.Errorf("config: extra kernel args %q, rendered %v", cfg.ExtraKernelArgs, cfg.Rendered != nil)
			}
		})
	}
	t.Run("a configuration without a qemu method", func(t *testing.T) {
		bad := strings.Replace(rendered, "      qemu:", "      qemu-other:", 1)
		_, _, err := OpenDevice(context.Background(), workerproto.Device{Hostname: "q1", DeviceType: "qemu", Dictionary: dict, Config: bad}, nil, nolog)
		if err == nil || !strings.Contains(err.Error(), "no qemu boot method") {
			t.Fatalf("err = %v", err)
		}
	})
}

// indexSeq returns where want starts in line (-1 when it is not there).
func indexSeq(line, want []string) int {
	for i := 0; i+len(want) <= len(line); i++ {
		if slices.Equal(line[i:i+len(want)], want) {
			return i
		}
	}
	return -1
}
