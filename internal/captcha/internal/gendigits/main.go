// Command gendigits makes the spoken digits that captcha.Audio plays:
// digits/0.pcm … digits/9.pcm, one Indonesian word each ("nol" … "sembilan").
//
// Each word is spoken by espeak-ng's Indonesian voice (Debian package
// espeak-ng, run as "espeak-ng -v id"). espeak-ng writes 16-bit PCM at its
// own rate (22050 Hz); this program resamples it to 8000 Hz in Go with a
// windowed-sinc low-pass filter, so no other audio tool is needed, then
// scales it to a common peak, converts it to 8-bit unsigned mono and cuts
// the silence before and after the word. The output is raw samples with
// no header, 128 being silence.
//
// The clips are committed, so building or running the server needs
// neither espeak-ng nor a network; run this again (go generate in
// internal/captcha) only to change how the digits sound.
package main

import (
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// words are the Indonesian names of the digits 0 to 9.
var words = [10]string{"nol", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan"}

const (
	outRate = 8000
	// cutoff keeps the band below the 4000 Hz limit of the output rate,
	// with room for the filter's transition.
	cutoff = 3600.0
	// halfTaps is the filter's half width in input samples: long enough
	// for a clean cut, short enough to run in a moment.
	halfTaps = 48
	// peak is the loudest sample of every clip after scaling, out of 127:
	// the same for every digit, and leaving headroom for the noise and
	// volume changes Audio adds.
	peak = 104
	// quiet is how far from 128 a sample may be and still count as the
	// silence to cut. The first and last samples kept are louder than
	// this, so a clip never starts or ends with an exact 128.
	quiet = 2
	// speed is espeak-ng's rate in words per minute, a little slower than
	// its default of 175 so that each digit is easy to follow.
	speed = 150
)

func main() {
	out := flag.String("out", "digits", "directory to write 0.pcm … 9.pcm into")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		log.Fatal(err)
	}
	tmp, err := os.MkdirTemp("", "gendigits")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	for d, w := range words {
		clip, err := digit(tmp, w)
		if err != nil {
			log.Fatalf("%d (%s): %v", d, w, err)
		}
		name := filepath.Join(*out, strconv.Itoa(d)+".pcm")
		if err := os.WriteFile(name, clip, 0o644); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s  %-8s %5d bytes  %4d ms\n", name, w, len(clip), len(clip)*1000/outRate)
	}
}

// digit speaks word and returns it as trimmed 8 kHz 8-bit samples.
func digit(tmp, word string) ([]byte, error) {
	// A file rather than --stdout: espeak-ng then writes the real sizes
	// into the WAV header instead of placeholders.
	wav := filepath.Join(tmp, word+".wav")
	cmd := exec.Command("espeak-ng", "-v", "id", "-s", strconv.Itoa(speed), "-z", "-w", wav, word)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("espeak-ng: %w", err)
	}
	data, err := os.ReadFile(wav)
	if err != nil {
		return nil, err
	}
	rate, samples, err := parseWAV(data)
	if err != nil {
		return nil, err
	}
	return trim(toUint8(resample(samples, rate, outRate))), nil
}

// parseWAV reads a mono 16-bit PCM WAV file into samples scaled to ±1.
func parseWAV(b []byte) (rate int, samples []float64, err error) {
	if len(b) < 12 || string(b[:4]) != "RIFF" || string(b[8:12]) != "WAVE" {
		return 0, nil, errors.New("not a WAV file")
	}
	var haveFmt bool
	for p := 12; p+8 <= len(b); {
		id, size := string(b[p:p+4]), int(binary.LittleEndian.Uint32(b[p+4:]))
		body := b[p+8 : min(len(b), p+8+size)]
		switch id {
		case "fmt ":
			if len(body) < 16 {
				return 0, nil, errors.New("short fmt chunk")
			}
			format, channels := binary.LittleEndian.Uint16(body), binary.LittleEndian.Uint16(body[2:])
			bits := binary.LittleEndian.Uint16(body[14:])
			if format != 1 || channels != 1 || bits != 16 {
				return 0, nil, fmt.Errorf("want 16-bit mono PCM, got format %d, %d channels, %d bits", format, channels, bits)
			}
			rate = int(binary.LittleEndian.Uint32(body[4:]))
			haveFmt = true
		case "data":
			if !haveFmt {
				return 0, nil, errors.New("data before fmt")
			}
			samples = make([]float64, len(body)/2)
			for i := range samples {
				samples[i] = float64(int16(binary.LittleEndian.Uint16(body[2*i:]))) / 32768
			}
			return rate, samples, nil
		}
		p += 8 + size + size&1
	}
	return 0, nil, errors.New("no data chunk")
}

// resample converts x from rate in to rate out by evaluating a
// Blackman-windowed sinc low-pass filter at each output instant.
func resample(x []float64, in, out int) []float64 {
	ratio := float64(in) / float64(out)
	fc := cutoff / float64(in) // cycles per input sample
	y := make([]float64, int(float64(len(x))/ratio))
	for n := range y {
		t := float64(n) * ratio
		lo, hi := int(math.Ceil(t))-halfTaps, int(math.Floor(t))+halfTaps
		var sum float64
		for k := max(lo, 0); k <= min(hi, len(x)-1); k++ {
			d := t - float64(k)
			sum += x[k] * 2 * fc * sinc(2*fc*d) * blackman(d/halfTaps)
		}
		y[n] = sum
	}
	return y
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	return math.Sin(math.Pi*x) / (math.Pi * x)
}

// blackman is the Blackman window on [-1, 1], zero outside.
func blackman(u float64) float64 {
	if u <= -1 || u >= 1 {
		return 0
	}
	a := math.Pi * (u + 1) // 0 … 2π across the window
	return 0.42 - 0.5*math.Cos(a) + 0.08*math.Cos(2*a)
}

// toUint8 scales y so its loudest sample is peak and converts it to
// unsigned 8-bit samples around 128.
func toUint8(y []float64) []byte {
	var top float64
	for _, v := range y {
		top = max(top, math.Abs(v))
	}
	b := make([]byte, len(y))
	for i, v := range y {
		s := 128.0
		if top > 0 {
			s += math.Round(v / top * peak)
		}
		b[i] = byte(min(255, max(0, s)))
	}
	return b
}

// trim cuts the near-silent samples before and after the word.
func trim(b []byte) []byte {
	loud := func(c byte) bool { return c < 128-quiet || c > 128+quiet }
	i, j := 0, len(b)
	for i < j && !loud(b[i]) {
		i++
	}
	for j > i && !loud(b[j-1]) {
		j--
	}
	return b[i:j]
}
