//! Contact sheets of images, for previews (the thesis' fig. 5.21).

use std::path::{Path, PathBuf};

use super::img::Image;

/// Background of the gaps between cells.
const BACKGROUND: u8 = 255;

/// `images` laid out row by row, `cols` per row (at least 1), in cells the
/// size of the largest image (smaller images sit at the cell's top left),
/// with `pad` pixels of white around and between cells. No images: an
/// empty (0 x 0) image.
pub fn grid(images: &[Image], cols: u32, pad: u32) -> Image {
    if images.is_empty() {
        return Image::default();
    }
    let cols = cols.clamp(1, images.len() as u32);
    let rows = (images.len() as u32).div_ceil(cols);
    let cell_w = images.iter().map(Image::width).max().unwrap_or(0);
    let cell_h = images.iter().map(Image::height).max().unwrap_or(0);
    let width = cols * (cell_w + pad) + pad;
    let height = rows * (cell_h + pad) + pad;
    let mut sheet = Image::black(width, height);
    sheet.data.fill(BACKGROUND);
    let stride = sheet.stride();
    for (i, img) in images.iter().enumerate() {
        let (col, row) = (i as u32 % cols, i as u32 / cols);
        let (x0, y0) = (pad + col * (cell_w + pad), pad + row * (cell_h + pad));
        let row_len = img.stride();
        if row_len == 0 {
            continue;
        }
        for (y, src) in img.data.chunks_exact(row_len).enumerate() {
            let start = (y0 as usize + y) * stride + x0 as usize * 3;
            sheet.data[start..start + row_len].copy_from_slice(src);
        }
    }
    sheet
}

/// The whole factor that brings a cell of `side` pixels (its larger side) up
/// to at least `tile` pixels: 1 when it already is, so large views are never
/// shrunk.
pub fn zoom_for(side: u32, tile: u32) -> u32 {
    if side == 0 {
        1
    } else {
        tile.div_ceil(side).max(1)
    }
}

/// `img` enlarged `factor` times in each direction by pixel replication
/// (nearest neighbour: what the model sees, pixel for pixel, only bigger).
pub fn enlarge(img: &Image, factor: u32) -> Image {
    if factor <= 1 {
        return img.clone();
    }
    let (w, h) = (img.width() * factor, img.height() * factor);
    let mut out = Image::black(w, h);
    let f = factor as usize;
    let src_stride = img.stride();
    let dst_stride = out.stride();
    for y in 0..h as usize {
        let src = &img.data[(y / f) * src_stride..(y / f + 1) * src_stride];
        let dst = &mut out.data[y * dst_stride..(y + 1) * dst_stride];
        for (x, px) in dst.chunks_exact_mut(3).enumerate() {
            let s = (x / f) * 3;
            px.copy_from_slice(&src[s..s + 3]);
        }
    }
    out
}

/// The contact sheet of `images` (as [`grid`]), every cell enlarged by one
/// whole factor so that the largest is at least `tile` pixels on a side.
pub fn zoomed_grid(images: &[Image], cols: u32, tile: u32, pad: u32) -> Image {
    let side = images
        .iter()
        .map(|v| v.width().max(v.height()))
        .max()
        .unwrap_or(0);
    let zoom = zoom_for(side, tile);
    let big: Vec<Image> = images.iter().map(|v| enlarge(v, zoom)).collect();
    grid(&big, cols, pad)
}

/// An image that could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {path}: {source}")]
pub struct SaveError {
    /// The file.
    pub path: PathBuf,
    /// The encoder's or the OS's error.
    #[source]
    pub source: image::ImageError,
}

/// Writes `img` as an 8-bit RGB PNG.
pub fn save_png(img: &Image, path: &Path) -> Result<(), SaveError> {
    image::save_buffer_with_format(
        path,
        img.data(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
        image::ImageFormat::Png,
    )
    .map_err(|source| SaveError {
        path: path.to_path_buf(),
        source,
    })
}

/// `img` as the bytes of an 8-bit RGB PNG file (e.g. to keep in a store).
pub fn encode_png(img: &Image) -> Result<Vec<u8>, image::ImageError> {
    use image::ImageEncoder;
    let mut bytes = Vec::new();
    image::codecs::png::PngEncoder::new(&mut bytes).write_image(
        img.data(),
        img.width(),
        img.height(),
        image::ExtendedColorType::Rgb8,
    )?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_padding_and_placement() {
        let red = Image::new(2, 2, [255, 0, 0].repeat(4)).unwrap();
        let blue = Image::new(1, 1, vec![0, 0, 255]).unwrap();
        let sheet = grid(&[red.clone(), blue, red], 2, 1);
        // 2 columns of 2 + 3 gaps = 7 wide; 2 rows = 7 high.
        assert_eq!((sheet.width(), sheet.height()), (7, 7));
        assert_eq!(sheet.pixel(0, 0), [255, 255, 255]);
        assert_eq!(sheet.pixel(1, 1), [255, 0, 0]);
        assert_eq!(sheet.pixel(2, 2), [255, 0, 0]);
        assert_eq!(sheet.pixel(4, 1), [0, 0, 255]);
        assert_eq!(sheet.pixel(5, 1), [255, 255, 255]);
        assert_eq!(sheet.pixel(1, 4), [255, 0, 0]);
        assert_eq!(sheet.pixel(4, 4), [255, 255, 255]);
        assert_eq!(grid(&[], 3, 2), Image::default());
    }

    #[test]
    fn enlarging_replicates_pixels_and_never_shrinks() {
        let img = Image::new(2, 1, vec![1, 2, 3, 4, 5, 6]).unwrap();
        let big = enlarge(&img, 3);
        assert_eq!((big.width(), big.height()), (6, 3));
        for y in 0..3 {
            assert_eq!(big.pixel(2, y), [1, 2, 3]);
            assert_eq!(big.pixel(3, y), [4, 5, 6]);
        }
        assert_eq!(enlarge(&img, 1), img);
        assert_eq!(zoom_for(32, 128), 4);
        assert_eq!(zoom_for(28, 128), 5);
        assert_eq!(zoom_for(224, 128), 1);
        assert_eq!(zoom_for(0, 128), 1);
    }

    #[test]
    fn png_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.png");
        let img = Image::new(2, 1, vec![1, 2, 3, 250, 251, 252]).unwrap();
        save_png(&img, &path).unwrap();
        let back = image::open(&path).unwrap().to_rgb8();
        assert_eq!(back.as_raw(), img.data());
        assert!(save_png(&img, &dir.path().join("missing/g.png")).is_err());
        let decoded = image::load_from_memory(&encode_png(&img).unwrap()).unwrap();
        assert_eq!(decoded.to_rgb8().as_raw(), img.data());
    }
}
