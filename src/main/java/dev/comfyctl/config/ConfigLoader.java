package dev.comfyctl.config;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * Builds the one {@link Config}: defaults, then the config file, then the environment, then flags.
 * All problems are collected and reported together, each naming the key, the value and where it came from.
 */
public final class ConfigLoader {

    /** The configuration and what was worth a warning while reading it (unknown keys). */
    public record Loaded(Config config, List<String> warnings) {
    }

    private record Raw(String text, Source source, String origin) {
    }

    private ConfigLoader() {
    }

    /**
     * @param environment the process environment (only known keys are read)
     * @param flags values given on the command line, keyed by setting key
     * @throws ConfigException when any value is invalid, the explicit config file is missing or unreadable,
     *     or a flag names an unknown key
     */
    public static Loaded load(Map<String, String> environment, Map<String, String> flags) {
        List<String> problems = new ArrayList<>();
        List<String> warnings = new ArrayList<>();
        Map<Setting, Raw> raws = new EnumMap<>(Setting.class);
        for (Setting setting : Setting.values()) {
            raws.put(setting, new Raw(setting.defaultValue(), Source.DEFAULT, "default"));
        }
        for (String key : flags.keySet()) {
            if (Setting.byKey(key).isEmpty()) {
                problems.add("unknown setting '" + key + "' given as a flag; known settings: "
                        + String.join(", ", Setting.keys()));
            }
        }
        overlayEnvironmentAndFlags(raws, environment, flags, Setting.COMFYCTL_HOME, Setting.COMFYCTL_CONFIG);

        List<String> reportedBelow = new ArrayList<>();
        Path home = (Path) parseOrReport(Setting.COMFYCTL_HOME, raws.get(Setting.COMFYCTL_HOME), reportedBelow);
        Object configParsed = parseOrReport(Setting.COMFYCTL_CONFIG, raws.get(Setting.COMFYCTL_CONFIG), reportedBelow);
        if (home != null && configParsed instanceof Optional<?> explicit) {
            boolean required = explicit.isPresent();
            Path file = explicit.isPresent() ? (Path) explicit.get() : home.resolve("config.env");
            readFile(file, required, raws, problems, warnings);
        }
        overlayEnvironmentAndFlags(raws, environment, flags, Setting.values());

        Map<Setting, Config.Value> values = new EnumMap<>(Setting.class);
        for (Setting setting : Setting.values()) {
            Raw raw = raws.get(setting);
            Object parsed = parseOrReport(setting, raw, problems);
            if (parsed != null) {
                values.put(setting, new Config.Value(parsed, raw.text(), raw.source(), raw.origin()));
            }
        }
        if (!problems.isEmpty()) {
            throw new ConfigException(problems);
        }
        Config config = new Config(values);
        if (!config.inconsistencies().isEmpty()) {
            throw new ConfigException(config.inconsistencies());
        }
        return new Loaded(config, List.copyOf(warnings));
    }

    private static void overlayEnvironmentAndFlags(Map<Setting, Raw> raws, Map<String, String> environment,
            Map<String, String> flags, Setting... settings) {
        for (Setting setting : settings) {
            String fromEnvironment = environment.get(setting.key());
            if (fromEnvironment != null) {
                raws.put(setting, new Raw(fromEnvironment, Source.ENVIRONMENT, "environment"));
            }
        }
        for (Map.Entry<String, String> flag : flags.entrySet()) {
            Setting.byKey(flag.getKey())
                    .filter(List.of(settings)::contains)
                    .ifPresent(setting -> raws.put(setting, new Raw(flag.getValue(), Source.FLAG, "flag")));
        }
    }

    private static Object parseOrReport(Setting setting, Raw raw, List<String> problems) {
        try {
            return setting.parse(raw.text());
        } catch (IllegalArgumentException e) {
            String shown = setting.secret() ? "(hidden)" : "'" + raw.text() + "'";
            problems.add(setting.key() + "=" + shown + " (from " + raw.origin() + ") " + e.getMessage());
            return null;
        }
    }

    private static void readFile(Path file, boolean required, Map<Setting, Raw> raws,
            List<String> problems, List<String> warnings) {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            if (required) {
                problems.add("config file " + file + " does not exist; create it or unset COMFYCTL_CONFIG");
            }
            return;
        } catch (IOException e) {
            problems.add("config file " + file + " cannot be read: " + e.getMessage());
            return;
        }
        for (Map.Entry<Integer, KeyValue> entry : parse(lines, file, problems).entrySet()) {
            KeyValue pair = entry.getValue();
            String where = file + ":" + entry.getKey();
            Optional<Setting> setting = Setting.byKey(pair.key());
            if (setting.isEmpty()) {
                warnings.add("unknown key " + pair.key() + " at " + where + " is ignored (run 'comfyctl config' to list the known keys)");
            } else if (!setting.get().fileMaySet()) {
                warnings.add(pair.key() + " at " + where + " is ignored: set it in the environment or as a flag");
            } else {
                raws.put(setting.get(), new Raw(pair.value(), Source.FILE, where));
            }
        }
    }

    private record KeyValue(String key, String value) {
    }

    /** Lines of {@code KEY=VALUE}; blank lines, {@code #} comments and a leading {@code export} are allowed. */
    private static Map<Integer, KeyValue> parse(List<String> lines, Path file, List<String> problems) {
        Map<Integer, KeyValue> pairs = new LinkedHashMap<>();
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) {
                continue;
            }
            if (line.startsWith("export ")) {
                line = line.substring("export ".length()).strip();
            }
            int equals = line.indexOf('=');
            if (equals <= 0) {
                problems.add(file + ":" + (i + 1) + " is not KEY=VALUE: '" + line + "'");
                continue;
            }
            pairs.put(i + 1, new KeyValue(line.substring(0, equals).strip(), unquote(line.substring(equals + 1).strip())));
        }
        return pairs;
    }

    private static String unquote(String value) {
        if (value.length() >= 2 && (value.startsWith("\"") && value.endsWith("\"")
                || value.startsWith("'") && value.endsWith("'"))) {
            return value.substring(1, value.length() - 1);
        }
        return value;
    }
}
