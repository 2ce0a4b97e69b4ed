"""The organisation directory of the 三层八线 mechanism (组织目录): units, posts, people, post holdings, lines
and routing rules, with effective dates; every change versioned and published as ``org.changed``."""
