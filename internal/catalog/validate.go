package catalog

import (
	"fmt"
	"regexp"
	"runtime"
	"slices"
	"strings"

	"github.com/ember-run/ember/internal/arn"
)

// Runtimes lists the runtime identifiers ember accepts. Others that Lambda
// knows (java, dotnet, ruby) are refused with a clear message rather than
// accepted and left unrunnable.
var Runtimes = []string{
	"provided", "provided.al2", "provided.al2023",
	"python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
	"nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x",
}

// NeedsHandler reports whether a runtime needs a Handler (interpreted ones).
func NeedsHandler(rt string) bool { return !strings.HasPrefix(rt, "provided") }

// HostArchitecture is the Lambda name of the architecture ember runs on.
func HostArchitecture() string {
	if runtime.GOARCH == "arm64" {
		return "arm64"
	}
	return "x86_64"
}

var (
	envKeyRE  = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9_]+$`)
	handlerRE = regexp.MustCompile(`^[^\s]{1,128}$`)
)

// reservedEnv are variables the platform sets itself (Lambda refuses them too).
var reservedEnv = []string{
	"_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
	"AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
	"AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
	"AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
	"AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...)
}

// applyDefaults fills unset fields with Lambda's defaults.
func (cfg *Config) applyDefaults() {
	if cfg.Timeout == 0 {
		cfg.Timeout = 3
	}
	if cfg.MemorySize == 0 {
		cfg.MemorySize = 128
	}
	if cfg.EphemeralStorage == 0 {
		cfg.EphemeralStorage = 512
	}
	if len(cfg.Architectures) == 0 {
		cfg.Architectures = []string{HostArchitecture()}
	}
	if cfg.TracingMode == "" {
		cfg.TracingMode = "PassThrough"
	}
}

// validate checks a configuration the way Lambda does, with its messages.
func (cfg *Config) validate() error {
	if cfg.Runtime == "" {
		return invalidf("Runtime is required for .zip deployment packages.")
	}
	if !slices.Contains(Runtimes, cfg.Runtime) {
		return invalidf("The runtime parameter of %s is not supported by ember. Supported runtimes: %s.", cfg.Runtime, strings.Join(Runtimes, ", "))
	}
	if !arn.ValidRoleARN(cfg.Role) {
		return invalidf("1 validation error detected: Value '%s' at 'role' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\\d{12}:role/?[a-zA-Z_0-9+=,.@\\-_/]+", cfg.Role)
	}
	if cfg.Handler == "" && NeedsHandler(cfg.Runtime) {
		return invalidf("Handler is required for runtime %s.", cfg.Runtime)
	}
	if cfg.Handler != "" && !handlerRE.MatchString(cfg.Handler) {
		return invalidf("1 validation error detected: Value '%s' at 'handler' failed to satisfy constraint: Member must have length less than or equal to 128 and contain no whitespace", cfg.Handler)
	}
	if len(cfg.Description) > 256 {
		return invalidf("1 validation error detected: Value at 'description' failed to satisfy constraint: Member must have length less than or equal to 256")
	}
	if cfg.Timeout < 1 || cfg.Timeout > 900 {
		return invalidf("1 validation error detected: Value '%d' at 'timeout' failed to satisfy constraint: Member must have value between 1 and 900", cfg.Timeout)
	}
	if cfg.MemorySize < 128 || cfg.MemorySize > 10240 {
		return invalidf("1 validation error detected: Value '%d' at 'memorySize' failed to satisfy constraint: Member must have value between 128 and 10240", cfg.MemorySize)
	}
	if cfg.EphemeralStorage < 512 || cfg.EphemeralStorage > 10240 {
		return invalidf("1 validation error detected: Value '%d' at 'ephemeralStorage.size' failed to satisfy constraint: Member must have value between 512 and 10240", cfg.EphemeralStorage)
	}
	if len(cfg.Architectures) != 1 {
		return invalidf("Architectures must hold exactly one value.")
	}
	if cfg.Architectures[0] != HostArchitecture() {
		return invalidf("Architecture %s is not available on this ember host (it runs %s).", cfg.Architectures[0], HostArchitecture())
	}
	if cfg.TracingMode != "PassThrough" && cfg.TracingMode != "Active" {
		return invalidf("1 validation error detected: Value '%s' at 'tracingConfig.mode' failed to satisfy constraint: Member must satisfy enum value set: [Active, PassThrough]", cfg.TracingMode)
	}
	size := 0
	for k, v := range cfg.Environment {
		if !envKeyRE.MatchString(k) {
			return invalidf("Environment variable name %q is invalid: names start with a letter and contain only letters, digits and underscores (at least 2 characters).", k)
		}
		if slices.Contains(reservedEnv, k) {
			return invalidf("Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: %s", k)
		}
		size += len(k) + len(v)
	}
	if size > 4096 {
		return invalidf("Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: %d bytes", size)
	}
	return nil
}
