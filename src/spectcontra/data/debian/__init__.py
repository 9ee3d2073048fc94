"""Real speech shipped in Debian packages: fetch and verify the pinned .deb files, list their recordings."""
