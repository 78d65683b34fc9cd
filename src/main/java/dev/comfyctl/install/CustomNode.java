package dev.comfyctl.install;

import java.util.Comparator;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * A custom node to install into {@code <COMFYUI_DIR>/custom_nodes/<name>}.
 *
 * @param name         the directory name under custom_nodes
 * @param url          what {@code git clone} gets: an https, ssh or file URL, or a local path
 * @param ref          branch, tag or commit to check out; empty = the clone's default branch as cloned
 * @param installOrder nodes with one install first, lowest first; the others after them, by name
 * @param requirements whether its {@code requirements.txt} is installed with ComfyUI's python
 */
public record CustomNode(String name, String url, Optional<String> ref, OptionalInt installOrder, boolean requirements) {

    /** install_order ascending, then the nodes without one by name. */
    public static final Comparator<CustomNode> INSTALL_ORDER = Comparator
            .comparingInt((CustomNode node) -> node.installOrder().orElse(Integer.MAX_VALUE))
            .thenComparing(node -> node.installOrder().isPresent() ? 0 : 1)
            .thenComparing(CustomNode::name);

    /** The ref as people read it: the ref itself, or "the default branch". */
    public String refLabel() {
        return ref.orElse("the default branch");
    }
}
