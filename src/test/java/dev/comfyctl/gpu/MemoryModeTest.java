package dev.comfyctl.gpu;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

class MemoryModeTest {

    @ParameterizedTest(name = "{0} MiB ({1}) is {2}")
    @CsvSource({
            "0, nothing, LOWVRAM",
            "6144, 6 GB RTX 2060, LOWVRAM",
            "7168, 7 GB, LOWVRAM",
            "7679, just under 7.5 GB, LOWVRAM",
            "7680, 7.5 GB rounds to 8, NORMALVRAM",
            "8188, 8 GB RTX 4060, NORMALVRAM",
            "8192, 8 GB RTX 3070, NORMALVRAM",
            "12282, 12 GB RTX 4070, NORMALVRAM",
            "15360, 15 GB, NORMALVRAM",
            "16303, 15.92 GB rounds to 16, HIGHVRAM",
            "16376, 16 GB RTX 4080, HIGHVRAM",
            "16384, 16 GB, HIGHVRAM",
            "19456, 19 GB, HIGHVRAM",
            "19967, just under 19.5 GB, HIGHVRAM",
            "20475, 20 GB RTX 4000 Ada, GPU_ONLY",
            "20480, 20 GB, GPU_ONLY",
            "24564, 24 GB RTX 4090, GPU_ONLY",
            "24576, 24 GB RTX 3090, GPU_ONLY",
            "81920, 80 GB A100, GPU_ONLY",
    })
    void bandsVramOnTheMarketedSize(long totalMib, String card, MemoryMode expected) {
        assertThat(MemoryMode.forVram(totalMib)).isEqualTo(expected);
    }

    @Test
    void unknownVramHasNoBand() {
        assertThatThrownBy(() -> MemoryMode.forVram(Gpu.UNKNOWN)).hasMessage("totalMib < 0: -1");
    }

    @Test
    void marketedGigabytesRoundsToTheNearestGigabyte() {
        assertThat(MemoryMode.marketedGigabytes(16376)).isEqualTo(16);
        assertThat(MemoryMode.marketedGigabytes(24564)).isEqualTo(24);
        assertThat(MemoryMode.marketedGigabytes(8188)).isEqualTo(8);
    }

    @Test
    void everyModeHasComfyUisFlag() {
        assertThat(MemoryMode.values()).extracting(MemoryMode::flag)
                .containsExactly("--gpu-only", "--highvram", "--normalvram", "--lowvram", "--novram", "--cpu");
    }

    @Test
    void namesParseCaseInsensitivelyWithOrWithoutDashes() {
        assertThat(MemoryMode.fromName("gpu-only")).isEqualTo(MemoryMode.GPU_ONLY);
        assertThat(MemoryMode.fromName("HighVRAM")).isEqualTo(MemoryMode.HIGHVRAM);
        assertThat(MemoryMode.fromName("--lowvram")).isEqualTo(MemoryMode.LOWVRAM);
        assertThat(MemoryMode.fromName(" cpu ")).isEqualTo(MemoryMode.CPU);
    }

    @Test
    void unknownNamesAreRejectedListingTheValidOnes() {
        assertThatThrownBy(() -> MemoryMode.fromName("gpu_only"))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("unknown memory mode 'gpu_only'; valid names: gpu-only, highvram, normalvram, lowvram, novram, cpu");
        assertThatThrownBy(() -> MemoryMode.fromName(null)).hasMessageStartingWith("unknown memory mode 'null'");
    }
}
