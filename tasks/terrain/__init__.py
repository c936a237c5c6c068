"""Rough terrain: a generated grid of height-field patches, spawning with a curriculum, and height scans."""

from .config import TERRAIN_TYPES, TerrainConfig
from .generator import Terrain, generate
from .scan import HeightScan

__all__ = ["TERRAIN_TYPES", "HeightScan", "Terrain", "TerrainConfig", "generate"]
