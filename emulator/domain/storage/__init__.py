"""Files the platform keeps in its public bucket: uploaded profile images and project logos."""
