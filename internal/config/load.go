package config

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/go-viper/mapstructure/v2"
	"github.com/knadh/koanf/parsers/yaml"
	"github.com/knadh/koanf/providers/env/v2"
	"github.com/knadh/koanf/providers/file"
	"github.com/knadh/koanf/providers/structs"
	"github.com/knadh/koanf/v2"
)

// EnvPrefix starts every environment override: ASNIDP_DATABASE_DSN sets
// database.dsn, ASNIDP_MASTER_KEY sets master_key.
const EnvPrefix = "ASNIDP_"

// EnvConfigFile names the config file when --config is not given.
const EnvConfigFile = "ASNIDP_CONFIG_FILE"

// Load reads the defaults, then the YAML file at path (skipped when path is
// empty), then ASNIDP_ variables from environ, and validates the result.
// Every problem is reported at once, each naming its key.
func Load(path string, environ []string) (Config, error) {
	k := koanf.New(".")
	if err := k.Load(structs.Provider(Default(), "koanf"), nil); err != nil {
		return Config{}, fmt.Errorf("load defaults: %w", err)
	}
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, errors.Unwrap(err))
		}
		if err := k.Load(file.Provider(path), yaml.Parser()); err != nil {
			return Config{}, fmt.Errorf("config file %s: %w", path, err)
		}
	}

	leaves := leafKeys(reflect.TypeFor[Config](), "")
	var problems []string
	envProvider := env.Provider(".", env.Opt{
		Prefix:      EnvPrefix,
		EnvironFunc: func() []string { return environ },
		TransformFunc: func(name, value string) (string, any) {
			if strings.HasPrefix(name, EnvPrefix+"TEST_") || name == EnvConfigFile {
				return "", nil // the test suite's settings and the file's own path
			}
			key, ok := leaves[name]
			if !ok {
				problems = append(problems, fmt.Sprintf("%s: unknown setting (no such key in config.yaml)", name))
				return "", nil
			}
			if key.list {
				return key.path, splitList(value)
			}
			return key.path, value
		},
	})
	if err := k.Load(envProvider, nil); err != nil {
		return Config{}, fmt.Errorf("load environment: %w", err)
	}

	var c Config
	dc := &mapstructure.DecoderConfig{
		DecodeHook: mapstructure.ComposeDecodeHookFunc(
			mapstructure.StringToTimeDurationHookFunc(),
			// ByteSize, the one type of ours that reads text.
			mapstructure.TextUnmarshallerHookFunc(),
			mapstructure.StringToSliceHookFunc(","),
		),
		WeaklyTypedInput: true,
		ErrorUnused:      true,
		TagName:          "koanf",
		Result:           &c,
	}
	keyProblems, badKeys := checkKeys(reflect.TypeFor[Config](), k.Raw(), "")
	problems = append(problems, keyProblems...)
	if err := k.UnmarshalWithConf("", &c, koanf.UnmarshalConf{DecoderConfig: dc}); err != nil {
		problems = append(problems, withoutRepeats(decodeProblems(err), badKeys)...)
	}
	problems = append(problems, withoutRepeats(c.Validate(), badKeys)...)
	if len(problems) > 0 {
		sort.Strings(problems)
		return Config{}, &Error{Problems: problems}
	}
	return c, nil
}

// Error lists every invalid key of a configuration.
type Error struct {
	Problems []string
}

func (e *Error) Error() string {
	return "invalid configuration: " + strings.Join(e.Problems, "; ")
}

type leaf struct {
	path string
	list bool
}

// leafKeys maps each environment variable name to the config key it sets.
// Lists of structs (clients) have no environment form.
func leafKeys(t reflect.Type, prefix string) map[string]leaf {
	out := map[string]leaf{}
	for i := range t.NumField() {
		f := t.Field(i)
		name := f.Tag.Get("koanf")
		if name == "" {
			continue
		}
		path := prefix + name
		switch {
		case f.Type.Kind() == reflect.Struct:
			for k, v := range leafKeys(f.Type, path+".") {
				out[k] = v
			}
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
		default:
			env := EnvPrefix + strings.ToUpper(strings.ReplaceAll(path, ".", "_"))
			out[env] = leaf{path: path, list: f.Type.Kind() == reflect.Slice}
		}
	}
	return out
}

func splitList(s string) []string {
	var out []string
	for _, part := range strings.Split(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// withoutRepeats drops the problems that only repeat what checkKeys said
// of a key in bad: the decoder's "has invalid keys" lines and its and
// Validate's complaints about a value checkKeys already quoted (a range
// check would otherwise report the zero value it got instead).
func withoutRepeats(problems, bad []string) []string {
	var out []string
	for _, p := range problems {
		repeat := strings.Contains(p, "has invalid keys")
		for _, key := range bad {
			repeat = repeat || strings.HasPrefix(p, key+":") || strings.HasPrefix(p, "'"+key+"'")
		}
		if !repeat {
			out = append(out, p)
		}
	}
	return out
}

// decodeProblems turns mapstructure's joined errors into one line each.
func decodeProblems(err error) []string {
	var joined interface{ Unwrap() []error }
	if errors.As(err, &joined) {
		var out []string
		for _, e := range joined.Unwrap() {
			out = append(out, decodeProblems(e)...)
		}
		return out
	}
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "decoding failed due to the following error(s):\n\n")
	var out []string
	for _, line := range strings.Split(msg, "\n") {
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}
