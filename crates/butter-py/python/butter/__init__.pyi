__version__: str
__author__: str
__license__: str
__all__: list[str]
