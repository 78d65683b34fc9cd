package dev.comfyctl.install;

import java.net.URI;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * A model file to download into {@code <models dir>/<folder>/<fileName>}.
 *
 * @param folder   the model folder type, such as {@code checkpoints} or {@code loras} (may hold sub-folders)
 * @param sha256   lower-case hex; when given, a present file with this hash is kept and a download is checked
 * @param size     expected size in bytes, when known
 */
public record ModelFile(URI url, String folder, String fileName, Optional<String> sha256, OptionalLong size) {

    /** Where it goes, relative to the models directory; two entries with the same one are duplicates. */
    public String destination() {
        return folder + "/" + fileName;
    }
}
