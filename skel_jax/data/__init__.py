"""Host-side data: skeleton layouts, readers, preprocessing, datasets and the input pipeline."""
