package dev.comfyctl.install;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;

import java.io.IOException;
import java.net.URI;
import java.net.URISyntaxException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Set;

/**
 * Reads a manifest from a JSON or YAML file, or from the JSON a discovery API answers. A manifest file is
 * read strictly (an unknown key is a typo to report); an API answer leniently (unknown keys are ignored).
 *
 * <pre>
 * custom_nodes:
 *   - name: ComfyUI-Impact-Pack          # directory under custom_nodes; default: from the URL
 *     url: https://github.com/ltdrdata/ComfyUI-Impact-Pack.git
 *     ref: 8.8.1                          # branch, tag or commit; default: the default branch
 *     install_order: 1                    # optional; the nodes with one go first, lowest first
 *     requirements: true                  # install its requirements.txt (default true)
 * models:
 *   - url: https://example.com/sdxl.safetensors
 *     folder: checkpoints                 # under the models directory
 *     filename: sdxl.safetensors          # default: from the URL
 *     sha256: 31e35c80fc4829d14f90153f4c74cd59c90b779f6afe05a74cd6ffb22d52ddd4
 *     size: 6938078334                    # bytes, optional
 * </pre>
 */
public final class ManifestReader {
    static final ObjectMapper JSON = new ObjectMapper();
    private static final ObjectMapper YAML = new YAMLMapper();
    private static final Set<String> TOP_KEYS = Set.of("custom_nodes", "models");
    private static final Set<String> NODE_KEYS = Set.of("name", "url", "git_url", "ref", "branch", "commit", "install_order",
            "requirements", "description");
    private static final Set<String> MODEL_KEYS = Set.of("name", "url", "folder", "type", "filename", "sha256", "size",
            "description");

    private final String origin;
    private final boolean strict;

    private ManifestReader(String origin, boolean strict) {
        this.origin = origin;
        this.strict = strict;
    }

    /** Reads {@code file}: YAML when it ends in .yaml or .yml, JSON otherwise. */
    public static Manifest readFile(Path file) {
        String name = file.getFileName().toString().toLowerCase(Locale.ROOT);
        ObjectMapper mapper = name.endsWith(".yaml") || name.endsWith(".yml") ? YAML : JSON;
        JsonNode root;
        try {
            root = mapper.readTree(Files.readString(file));
        } catch (NoSuchFileException e) {
            throw new ManifestException("manifest " + file + " does not exist; check COMPONENT_MANIFEST or --manifest");
        } catch (JsonProcessingException e) {
            throw new ManifestException("manifest " + file + " is not valid " + (mapper == YAML ? "YAML" : "JSON") + " (line "
                    + e.getLocation().getLineNr() + ", column " + e.getLocation().getColumnNr() + "): "
                    + e.getOriginalMessage() + "; fix the file and run again");
        } catch (IOException e) {
            throw new ManifestException("cannot read manifest " + file + ": " + e.getMessage());
        }
        if (root == null || root.isMissingNode() || root.isNull()) {
            return Manifest.EMPTY;
        }
        return new ManifestReader("manifest " + file, true).manifest(root);
    }

    /** Reads an API answer: an object with custom_nodes and models (possibly inside "data"), or a list of nodes. */
    static Manifest readApiAnswer(String call, JsonNode answer) {
        ManifestReader reader = new ManifestReader(call, false);
        JsonNode body = answer.has("data") ? answer.get("data") : answer;
        if (body.isArray()) {
            return new Manifest(reader.nodes(body, "the answer"), List.of());
        }
        return reader.manifest(body);
    }

    private Manifest manifest(JsonNode root) {
        if (!root.isObject()) {
            throw invalid("the top level", "is not a mapping", "write 'custom_nodes:' and 'models:' lists at the top level");
        }
        checkKeys(root, TOP_KEYS, "the top level");
        List<CustomNode> nodes = nodes(root.path("custom_nodes"), "custom_nodes");
        List<ModelFile> models = new ArrayList<>();
        Map<String, String> seenModels = new HashMap<>();
        JsonNode list = root.path("models");
        checkList(list, "models");
        for (int i = 0; i < list.size(); i++) {
            String where = "models[" + i + "]";
            ModelFile model = model(list.get(i), where);
            String earlier = seenModels.putIfAbsent(model.destination(), where);
            if (earlier != null && strict) {
                throw invalid(where, "has the same destination " + model.destination() + " as " + earlier, "remove one of them");
            }
            if (earlier == null) {
                models.add(model);
            }
        }
        return new Manifest(nodes, models);
    }

    private List<CustomNode> nodes(JsonNode list, String key) {
        checkList(list, key);
        List<CustomNode> nodes = new ArrayList<>();
        Map<String, String> seen = new HashMap<>();
        for (int i = 0; i < list.size(); i++) {
            String where = key + "[" + i + "]";
            CustomNode node = node(list.get(i), where);
            String earlier = seen.putIfAbsent(node.name(), where);
            if (earlier != null && strict) {
                throw invalid(where + " (" + node.name() + ")", "has the same name as " + earlier,
                        "remove one of them, or give one a different 'name'");
            }
            if (earlier == null) {
                nodes.add(node);
            }
        }
        return nodes;
    }

    private CustomNode node(JsonNode entry, String where) {
        if (!entry.isObject()) {
            throw invalid(where, "is not a mapping", "give each custom node at least 'url:' (and 'ref:', 'install_order:')");
        }
        checkKeys(entry, NODE_KEYS, where);
        String url = text(entry, "url").or(() -> text(entry, "git_url")).orElseThrow(() -> invalid(described(entry, where),
                "has no 'url'", "give the git URL to clone, e.g. url: https://github.com/owner/repo.git"));
        String name = text(entry, "name").orElseGet(() -> nameFromUrl(url));
        String labelled = where + " (" + name + ")";
        if (!name.matches("[A-Za-z0-9_][A-Za-z0-9._ -]*") || name.equals("..")) {
            throw invalid(labelled, "has the name '" + name + "', which is not a plain directory name",
                    "use letters, digits, '.', '_', '-' and spaces only, no '/' and not starting with '.'");
        }
        Optional<String> ref = text(entry, "ref").or(() -> text(entry, "commit")).or(() -> text(entry, "branch"));
        if (ref.isPresent() && (ref.get().startsWith("-") || ref.get().contains(".."))) {
            throw invalid(labelled, "has the ref '" + ref.get() + "', which git cannot check out", "give a branch, tag or commit");
        }
        OptionalInt order = OptionalInt.empty();
        JsonNode orderNode = entry.path("install_order");
        if (!orderNode.isMissingNode() && !orderNode.isNull()) {
            boolean whole = orderNode.isIntegralNumber() && orderNode.canConvertToInt()
                    || orderNode.isTextual() && orderNode.asText().strip().matches("-?\\d{1,9}");
            if (!whole) {
                throw invalid(labelled, "has install_order '" + orderNode.asText() + "', which is not a whole number",
                        "give a whole number (lower installs first) or leave it out");
            }
            order = OptionalInt.of(orderNode.isIntegralNumber() ? orderNode.intValue() : Integer.parseInt(orderNode.asText().strip()));
        }
        JsonNode requirements = entry.path("requirements");
        if (!requirements.isMissingNode() && !requirements.isNull() && !requirements.isBoolean()) {
            throw invalid(labelled, "has requirements '" + requirements.asText() + "', which is not true or false",
                    "write requirements: false to skip its requirements.txt, or leave it out");
        }
        return new CustomNode(name, url, ref, order, requirements.asBoolean(true));
    }

    private ModelFile model(JsonNode entry, String where) {
        if (!entry.isObject()) {
            throw invalid(where, "is not a mapping", "give each model 'url:', 'folder:' and 'filename:' (and 'sha256:')");
        }
        checkKeys(entry, MODEL_KEYS, where);
        String rawUrl = text(entry, "url").orElseThrow(() -> invalid(described(entry, where), "has no 'url'",
                "give the http(s) URL to download it from"));
        URI url;
        try {
            url = new URI(rawUrl);
        } catch (URISyntaxException e) {
            throw invalid(described(entry, where), "has the URL '" + rawUrl + "', which is not a valid URL", "fix the URL");
        }
        if (url.getScheme() == null || !url.getScheme().matches("(?i)https?") || url.getHost() == null) {
            throw invalid(described(entry, where), "has the URL '" + rawUrl + "', which is not http:// or https://",
                    "give an http(s) URL");
        }
        String fileName = text(entry, "filename").orElseGet(() -> lastSegment(url.getPath()));
        String labelled = where + " (" + (fileName.isEmpty() ? rawUrl : fileName) + ")";
        if (fileName.isEmpty()) {
            throw invalid(labelled, "has no 'filename' and its URL does not end in one", "give filename: the name to save it as");
        }
        String folder = text(entry, "folder").or(() -> text(entry, "type")).orElseThrow(() -> invalid(labelled,
                "has no 'folder'", "give the model folder it belongs in, e.g. folder: checkpoints (or loras, vae, ...)"));
        Optional<String> sha256 = text(entry, "sha256").map(hash -> hash.toLowerCase(Locale.ROOT));
        if (sha256.isPresent() && !sha256.get().matches("[0-9a-f]{64}")) {
            throw invalid(labelled, "has sha256 '" + sha256.get() + "', which is not 64 hex digits",
                    "give the file's SHA-256 (sha256sum FILE) or leave it out");
        }
        OptionalLong size = OptionalLong.empty();
        JsonNode sizeNode = entry.path("size");
        if (!sizeNode.isMissingNode() && !sizeNode.isNull()) {
            if (!sizeNode.isIntegralNumber() || sizeNode.longValue() < 0) {
                throw invalid(labelled, "has size '" + sizeNode.asText() + "', which is not a number of bytes",
                        "give the size in bytes or leave it out");
            }
            size = OptionalLong.of(sizeNode.longValue());
        }
        return new ModelFile(url, folder, fileName, sha256, size);
    }

    private void checkList(JsonNode list, String key) {
        if (!list.isMissingNode() && !list.isNull() && !list.isArray()) {
            throw invalid(key, "is not a list", "write each entry as a list item ('- url: ...')");
        }
    }

    private void checkKeys(JsonNode entry, Set<String> known, String where) {
        if (!strict) {
            return;
        }
        for (Iterator<String> names = entry.fieldNames(); names.hasNext(); ) {
            String key = names.next();
            if (!known.contains(key)) {
                throw invalid(described(entry, where), "has the unknown key '" + key + "'",
                        "use one of " + known.stream().sorted().toList() + " (is it a typo?)");
            }
        }
    }

    private static String described(JsonNode entry, String where) {
        return text(entry, "name").or(() -> text(entry, "filename")).map(name -> where + " (" + name + ")").orElse(where);
    }

    private static Optional<String> text(JsonNode entry, String key) {
        JsonNode value = entry.path(key);
        if (value.isMissingNode() || value.isNull() || !value.isValueNode()) {
            return Optional.empty();
        }
        String text = value.asText().strip();
        return text.isEmpty() ? Optional.empty() : Optional.of(text);
    }

    private ManifestException invalid(String where, String problem, String fix) {
        return new ManifestException(origin + ": " + where + " " + problem + "; " + fix);
    }

    private static String nameFromUrl(String url) {
        String name = lastSegment(url);
        return name.endsWith(".git") ? name.substring(0, name.length() - 4) : name;
    }

    private static String lastSegment(String path) {
        String trimmed = path.replaceAll("/+$", "");
        return trimmed.substring(trimmed.lastIndexOf('/') + 1);
    }
}
