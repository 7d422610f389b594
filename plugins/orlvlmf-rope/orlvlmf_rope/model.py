"""MJCF of the rope scene: a cable of capsules on a table, two mocap pickers holding its ends."""

from __future__ import annotations


def rope_xml(segments: int = 40, length: float = 0.5, radius: float = 0.0125, bend: float = 2e3,
             twist: float = 1e3, damping: float = 0.02, friction: float = 0.6,
             image_size: int = 128) -> str:
    """The scene as MJCF text.  The rope is defined straight along x at height ``radius``;
    picker ``i`` starts at end ``i`` so each ``connect`` constraint holds at the defined pose."""
    half = length / 2
    z = radius
    size = max(int(image_size), 64)
    return f"""
<mujoco model="rope">
  <extension><plugin plugin="mujoco.elasticity.cable"/></extension>
  <option timestep="0.004" integrator="implicitfast" solver="CG" jacobian="sparse" iterations="30" tolerance="1e-6" gravity="0 0 -9.81"/>
  <visual>
    <global offwidth="{size}" offheight="{size}"/>
    <headlight ambient="0.5 0.5 0.5" diffuse="0.5 0.5 0.5"/>
  </visual>
  <default><geom solref="0.004 1"/></default>
  <worldbody>
    <geom name="table" type="plane" size="1 1 0.05" rgba="0.86 0.84 0.78 1" friction="{friction}"
          contype="2" conaffinity="1"/>
    <camera name="top" pos="0 0 0.95" xyaxes="1 0 0 0 1 0" fovy="45"/>
    <composite prefix="R" type="cable" curve="s" count="{segments + 1} 1 1" size="{length}"
               offset="{-half} 0 {z}" initial="free">
      <plugin plugin="mujoco.elasticity.cable">
        <config key="twist" value="{twist}"/>
        <config key="bend" value="{bend}"/>
        <config key="vmax" value="0"/>
      </plugin>
      <joint kind="main" damping="{damping}"/>
      <geom type="capsule" size="{radius}" rgba="0.12 0.32 0.85 1" condim="3" density="300"
            contype="1" conaffinity="2"
            friction="{friction}"/>
    </composite>
    <body name="picker0" mocap="true" pos="{-half} 0 {z}">
      <geom type="sphere" size="{1.6 * radius}" rgba="0.9 0.9 0.9 0.6" contype="0" conaffinity="0"/>
    </body>
    <body name="picker1" mocap="true" pos="{half} 0 {z}">
      <geom type="sphere" size="{1.6 * radius}" rgba="0.9 0.9 0.9 0.6" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
  <equality>
    <connect body1="RB_first" body2="picker0" anchor="0 0 0" solref="0.01 1"/>
    <connect body1="RB_last" body2="picker1" anchor="{length / segments} 0 0" solref="0.01 1"/>
  </equality>
</mujoco>
"""
